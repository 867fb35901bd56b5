import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromXml } from '../../server/xml/index.js';
import { expectProblem } from '../helpers/problems.js';
import { child, parseXmlTree } from '../helpers/xml.js';
import { startTestServer, type TestPerson, type TestServer } from '../helpers/server.js';

const NS = 'https://proffer.dev/ns/1';
const PROFILE_SCHEMA = 'https://proffer.dev/schemas/profile.json';
const URL = '/v1/me/profile';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

// ---------------------------------------------------------------------------------------------
// Helpers

type Json = Record<string, unknown>;

const ADA: Json = {
  name: { given: 'Ada', family: 'Lovelace' },
  emails: { personal: 'ada@example.org' },
  phones: { mobile: '+44 20 7946 0000' },
  addresses: { home: { lines: ["12 St James's Square"], locality: 'London', postalCode: 'SW1Y 4JH', country: 'GB' } },
  birthDate: '1815-12-10',
  locale: 'en-GB',
  preferences: { sizes: { shoe: 'EU 38' }, diet: ['vegetarian'], contactChannels: ['email', 'post'] },
  custom: { 'favourite-engine': 'analytical', newsletter: false, 'shoe-count': 3 },
};

const ADA_PATHS = [
  'addresses.home.country',
  'addresses.home.lines',
  'addresses.home.locality',
  'addresses.home.postalCode',
  'birthDate',
  'custom.favourite-engine',
  'custom.newsletter',
  'custom.shoe-count',
  'emails.personal',
  'locale',
  'name.family',
  'name.given',
  'phones.mobile',
  'preferences.contactChannels',
  'preferences.diet',
  'preferences.sizes.shoe',
];

/** The same document as ADA, in its XML form (docs/xml.md): arrays as <item>, non-strings typed. */
const ADA_XML = `<?xml version="1.0" encoding="UTF-8"?>
<profile xmlns="${NS}">
  <name><given>Ada</given><family>Lovelace</family></name>
  <emails><personal>ada@example.org</personal></emails>
  <phones><mobile>+44 20 7946 0000</mobile></phones>
  <addresses>
    <home>
      <lines><item>12 St James's Square</item></lines>
      <locality>London</locality>
      <postalCode>SW1Y 4JH</postalCode>
      <country>GB</country>
    </home>
  </addresses>
  <birthDate>1815-12-10</birthDate>
  <locale>en-GB</locale>
  <preferences>
    <sizes><shoe>EU 38</shoe></sizes>
    <diet><item>vegetarian</item></diet>
    <contactChannels><item>email</item><item>post</item></contactChannels>
  </preferences>
  <custom>
    <favourite-engine>analytical</favourite-engine>
    <newsletter type="boolean">false</newsletter>
    <shoe-count type="number">3</shoe-count>
  </custom>
</profile>`;


/** The XML answer read back as the JSON it stands for (the documented mapping). */
function profileFromXml(text: string): unknown {
  return fromXml(text, { root: 'profile', schemaRef: PROFILE_SCHEMA, schemas: server.ctx.contract.xmlSchemas });
}

async function get(who: TestPerson, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return server.request({ method: 'GET', url: URL, headers: { ...who.auth, ...headers } });
}

async function put(who: TestPerson, payload: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return server.request({ method: 'PUT', url: URL, headers: { 'content-type': 'application/json', ...who.auth, ...headers }, payload: body });
}

async function putXml(who: TestPerson, xml: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return put(who, xml, { 'content-type': 'application/xml', ...headers });
}

async function patch(who: TestPerson, payload: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return server.request({
    method: 'PATCH',
    url: URL,
    headers: { 'content-type': 'application/merge-patch+json', ...who.auth, ...headers },
    payload: body,
  });
}

/** Everything stored about a person's profile: the row and every event, oldest first. */
async function stored(who: TestPerson) {
  const { db } = server.ctx;
  const profile = await db
    .selectFrom('profiles')
    .select(['document', 'version'])
    .where('person_id', '=', who.id)
    .executeTakeFirst();
  const events = await db
    .selectFrom('events')
    .select(['id', 'kind', 'subject', 'version', 'data'])
    .where('person_id', '=', who.id)
    .orderBy('id')
    .execute();
  return { profile: profile ?? null, events };
}

async function profileEvents(who: TestPerson) {
  return (await stored(who)).events.filter((e) => e.kind === 'profile.updated');
}

function expectOk(response: LightMyRequestResponse, version: number, type: 'json' | 'xml' = 'json'): void {
  expect(response.statusCode, response.body).toBe(200);
  expect(response.headers.etag).toBe(`"${version}.${type}"`);
  expect(response.headers['profile-version']).toBe(String(version));
  expect(response.headers['content-type']).toMatch(type === 'json' ? /^application\/json/ : /^application\/xml/);
}


/** A person whose profile is ADA at version 1. */
async function personWithAda(): Promise<TestPerson> {
  const who = await server.person();
  expectOk(await put(who, ADA), 1);
  return who;
}

// ---------------------------------------------------------------------------------------------

describe('GET /v1/me/profile before anything is set', () => {
  it('is {} at version 0, as JSON and as XML', async () => {
    const who = await server.person();
    const json = await get(who);
    expectOk(json, 0);
    expect(json.json()).toStrictEqual({});

    const xml = await get(who, { accept: 'application/xml' });
    expectOk(xml, 0, 'xml');
    const root = parseXmlTree(xml.body);
    expect(root.local).toBe('profile');
    expect(root.uri).toBe(NS);
    expect(root.children).toEqual([]);
    expect(await stored(who)).toEqual({ profile: null, events: [] });
  });

  it('needs a person token', async () => {
    const response = await server.request({ method: 'GET', url: URL });
    expectProblem(response, 401);
  });
});

describe('PUT and GET, JSON and XML', () => {
  it('PUT JSON answers 200 with ETag "1.json" and Profile-Version 1, and stores the document', async () => {
    const who = await server.person();
    const response = await put(who, ADA);
    expectOk(response, 1);
    expect(response.json()).toStrictEqual(ADA);

    const { profile, events } = await stored(who);
    expect(profile).toEqual({ document: ADA, version: 1 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'profile.updated', subject: 'profile', version: 1 });
    expect((events[0]?.data as Json).changed).toStrictEqual(ADA_PATHS);
  });

  it('GET as JSON and as XML show the same data', async () => {
    const who = await personWithAda();
    const json = await get(who);
    expectOk(json, 1);
    expect(json.json()).toStrictEqual(ADA);

    const xml = await get(who, { accept: 'application/xml' });
    expectOk(xml, 1, 'xml');
    expect(xml.headers.vary).toMatch(/accept/i);
    const root = parseXmlTree(xml.body);
    expect(root.local).toBe('profile');
    expect(root.uri).toBe(NS);
    expect(child(child(root, 'name'), 'given').text).toBe('Ada');
    expect(child(child(root, 'emails'), 'personal').text).toBe('ada@example.org');
    expect(child(child(root, 'preferences'), 'diet').children.map((c) => [c.local, c.text])).toEqual([['item', 'vegetarian']]);
    expect(child(child(root, 'custom'), 'newsletter').attributes.type).toBe('boolean');
    expect(profileFromXml(xml.body)).toStrictEqual(ADA);
  });

  it('prefers JSON without Accept and follows Accept quality values', async () => {
    const who = await personWithAda();
    expectOk(await get(who, { accept: '*/*' }), 1);
    expectOk(await get(who, { accept: 'application/json;q=0.5, application/xml' }), 1, 'xml');
    expectOk(await get(who, { accept: 'text/html, application/xml;q=0.1' }), 1, 'xml');
  });

  it.each([['application/xml'], ['text/xml'], ['application/xml; charset=utf-8']])(
    'PUT XML as %s stores the document, read back as JSON',
    async (contentType) => {
      const who = await server.person();
      const response = await putXml(who, ADA_XML, { 'content-type': contentType });
      expectOk(response, 1);
      expect(response.json()).toStrictEqual(ADA);
      const read = await get(who);
      expectOk(read, 1);
      expect(read.json()).toStrictEqual(ADA);
      const { profile, events } = await stored(who);
      expect(profile).toEqual({ document: ADA, version: 1 });
      expect(events.map((e) => e.kind)).toEqual(['profile.updated']);
    },
  );

  it('PUT XML with Accept XML answers XML', async () => {
    const who = await server.person();
    const response = await putXml(who, ADA_XML, { accept: 'application/xml' });
    expectOk(response, 1, 'xml');
    expect(profileFromXml(response.body)).toStrictEqual(ADA);
  });

  it('a value written as JSON comes back the same through XML and back again', async () => {
    const who = await server.person();
    const tricky: Json = {
      name: { given: '<Ada> & "Byron"', family: "O'Brien ]]> \u00e9\u{1F600}" },
      custom: { 'numeric-text': '42', 'bool-text': 'true', ratio: -1.5e-3, flag: true, empty: '' },
    };
    expectOk(await put(who, tricky), 1);
    const xml = await get(who, { accept: 'application/xml' });
    expectOk(xml, 1, 'xml');
    parseXmlTree(xml.body);
    expect(profileFromXml(xml.body)).toStrictEqual(tricky);

    // Writing the XML representation back is the identical document: nothing changes.
    const again = await putXml(who, xml.body);
    expectOk(again, 1);
    expect(again.json()).toStrictEqual(tricky);
    expect(await profileEvents(who)).toHaveLength(1);
  });

  it('an identical PUT changes nothing: same version, no event', async () => {
    const who = await personWithAda();
    const before = await stored(who);
    const reordered = Object.fromEntries(Object.entries(ADA).reverse());
    const response = await put(who, reordered);
    expectOk(response, 1);
    expect(response.json()).toStrictEqual(ADA);
    expectOk(await putXml(who, ADA_XML), 1);
    expect(await stored(who)).toEqual(before);
  });

  it('PUT {} on an empty profile changes nothing', async () => {
    const who = await server.person();
    const response = await put(who, {});
    expectOk(response, 0);
    expect(response.json()).toStrictEqual({});
    expect((await stored(who)).events).toEqual([]);
    expectOk(await get(who), 0);
  });

  it('every change bumps the version by one and writes exactly one profile.updated event with the changed paths', async () => {
    const who = await personWithAda();

    const second = { ...ADA, locale: 'en-US', emails: { personal: 'ada@example.org', work: 'ada@analytical.example' } };
    expectOk(await put(who, second), 2);

    const third = await patch(who, { name: { family: null, nickname: 'Countess' } });
    expectOk(third, 3);

    const fourth = await putXml(who, `<profile xmlns="${NS}"><locale>fr</locale></profile>`);
    expectOk(fourth, 4);
    expect(fourth.json()).toStrictEqual({ locale: 'fr' });

    const events = await profileEvents(who);
    expect(events.map((e) => e.version)).toEqual([1, 2, 3, 4]);
    expect(events.map((e) => (e.data as Json).changed)).toStrictEqual([
      ADA_PATHS,
      ['emails.work', 'locale'],
      ['name.family', 'name.nickname'],
      ADA_PATHS.filter((p) => p !== 'name.family').concat('emails.work', 'name.nickname').sort(),
    ]);
    expect((events[3]?.data as Json).profile).toStrictEqual({ locale: 'fr' });
    expect((await stored(who)).profile).toEqual({ document: { locale: 'fr' }, version: 4 });
  });
});

describe('PATCH (JSON Merge Patch)', () => {
  it.each([['application/merge-patch+json'], ['application/json']])(
    'as %s: null removes a field, objects merge, the result is stored',
    async (contentType) => {
      const who = await personWithAda();
      const response = await patch(
        who,
        { phones: null, name: { family: null, middle: 'King' }, emails: { work: 'ada@analytical.example' }, preferences: { diet: ['vegan'] } },
        { 'content-type': contentType },
      );
      expectOk(response, 2);
      const expected = {
        ...ADA,
        name: { given: 'Ada', middle: 'King' },
        emails: { personal: 'ada@example.org', work: 'ada@analytical.example' },
        preferences: { sizes: { shoe: 'EU 38' }, diet: ['vegan'], contactChannels: ['email', 'post'] },
      };
      delete (expected as Json).phones;
      expect(response.json()).toStrictEqual(expected);
      expect((await get(who)).json()).toStrictEqual(expected);

      const events = await profileEvents(who);
      expect(events).toHaveLength(2);
      expect(events[1]).toMatchObject({ version: 2 });
      expect((events[1]?.data as Json).changed).toStrictEqual([
        'emails.work',
        'name.family',
        'name.middle',
        'phones.mobile',
        'preferences.diet',
      ]);
    },
  );

  it('a patch on an empty profile creates version 1', async () => {
    const who = await server.person();
    const response = await patch(who, { locale: 'de-CH' });
    expectOk(response, 1);
    expect(response.json()).toStrictEqual({ locale: 'de-CH' });
  });

  it('a patch that changes nothing keeps the version and writes no event', async () => {
    const who = await personWithAda();
    const before = await stored(who);
    expectOk(await patch(who, { locale: 'en-GB', nothing: null, name: { prefix: null } }), 1);
    expectOk(await patch(who, {}), 1);
    expect(await stored(who)).toEqual(before);
  });

  it('removing the last field of an object leaves a valid profile', async () => {
    const who = await personWithAda();
    const response = await patch(who, { phones: { mobile: null } });
    expectOk(response, 2);
    expect(response.json()).toMatchObject({ phones: {} });
  });

  it.each<[string, unknown, string]>([
    ['an empty given name', { name: { given: '' } }, '/name/given'],
    ['an invalid email', { emails: { work: 'not-an-email' } }, '/emails/work'],
    ['an unknown property', { nickname: 'Ada' }, '/nickname'],
    ['an unknown nested property', { name: { title: 'Countess' } }, '/name/title'],
    ['an upper-case label', { emails: { Work: 'ada@analytical.example' } }, '/emails/Work'],
    ['a constructor key', { custom: { constructor: 1 } }, '/custom/constructor'],
    ['an empty address line list', { addresses: { home: { lines: [] } } }, '/addresses/home/lines'],
    ['a wrong type', { birthDate: 19151210 }, '/birthDate'],
    ['an array for a map', { emails: ['a@b.c'] }, '/emails'],
    ['an object for a custom value', { custom: { 'shoe-count': { n: 3 } } }, '/custom/shoe-count'],
  ])('a patch producing an invalid profile (%s) is 400 and changes nothing', async (_label, body, pointer) => {
    const who = await personWithAda();
    const before = await stored(who);
    expectProblem(await patch(who, body), 400, pointer);
    expect(await stored(who)).toEqual(before);
  });

  it('a patch that is not an object is refused', async () => {
    const who = await personWithAda();
    const before = await stored(who);
    expectProblem(await patch(who, '["locale"]'), 400);
    expectProblem(await patch(who, '"x"'), 400);
    expectProblem(await patch(who, 'null'), 400);
    expect(await stored(who)).toEqual(before);
  });

  it('XML is not a merge patch: 415', async () => {
    const who = await personWithAda();
    const before = await stored(who);
    expectProblem(await patch(who, `<profile xmlns="${NS}"><locale>fr</locale></profile>`, { 'content-type': 'application/xml' }), 415);
    expect(await stored(who)).toEqual(before);
  });
});

describe('conditional requests', () => {
  it('If-Match with the current ETag applies the change; a stale one is 412 and changes nothing', async () => {
    const who = await personWithAda();
    const v2 = await put(who, { ...ADA, locale: 'en-US' }, { 'if-match': '"1.json"' });
    expectOk(v2, 2);

    const before = await stored(who);
    expectProblem(await put(who, { locale: 'fr' }, { 'if-match': '"1.json"' }), 412);
    expectProblem(await patch(who, { locale: 'fr' }, { 'if-match': '"1.json"' }), 412);
    expectProblem(await putXml(who, `<profile xmlns="${NS}"><locale>fr</locale></profile>`, { 'if-match': '"1.xml"' }), 412);
    expectProblem(await put(who, { locale: 'fr' }, { 'if-match': '"99.json"' }), 412);
    expectProblem(await put(who, { locale: 'fr' }, { 'if-match': 'not-an-etag' }), 412);
    // If-Match compares strongly: a weak tag never matches, not even the current one.
    expectProblem(await put(who, { locale: 'fr' }, { 'if-match': 'W/"2.json"' }), 412);
    expect(await stored(who)).toEqual(before);

    // The current version, in either representation's ETag, or "*".
    expectOk(await patch(who, { locale: 'fr' }, { 'if-match': '"2.xml"' }), 3);
    expectOk(await patch(who, { locale: 'it' }, { 'if-match': '"3.json"' }), 4);
    expectOk(await put(who, { locale: 'es' }, { 'if-match': '*' }), 5);
    expect((await get(who)).json()).toStrictEqual({ locale: 'es' });
  });

  it('If-Match on a profile never written is "0.json"', async () => {
    const who = await server.person();
    expectProblem(await put(who, { locale: 'fr' }, { 'if-match': '"1.json"' }), 412);
    expect((await stored(who)).events).toEqual([]);
    expectOk(await put(who, { locale: 'fr' }, { 'if-match': '"0.json"' }), 1);
  });

  it('If-None-Match with the current ETag is 304 without a body; a stale one is 200', async () => {
    const who = await personWithAda();
    const notModified = await get(who, { 'if-none-match': '"1.json"' });
    expect(notModified.statusCode).toBe(304);
    expect(notModified.body).toBe('');
    expect(notModified.headers.etag).toBe('"1.json"');

    const xmlNotModified = await get(who, { accept: 'application/xml', 'if-none-match': '"1.xml"' });
    expect(xmlNotModified.statusCode).toBe(304);
    expect(xmlNotModified.body).toBe('');

    expect((await get(who, { 'if-none-match': '"0.json", "1.json"' })).statusCode).toBe(304);

    const stale = await get(who, { 'if-none-match': '"0.json"' });
    expectOk(stale, 1);
    expect(stale.json()).toStrictEqual(ADA);

    // Each representation has its own ETag.
    expectOk(await get(who, { accept: 'application/xml', 'if-none-match': '"1.json"' }), 1, 'xml');

    expectOk(await patch(who, { locale: 'fr' }), 2);
    const changed = await get(who, { 'if-none-match': '"1.json"' });
    expectOk(changed, 2);
    expect(changed.json()).toMatchObject({ locale: 'fr' });
  });
});

describe('content negotiation', () => {
  it('Accept text/html only is 406 for GET, PUT and PATCH, and changes nothing', async () => {
    const who = await personWithAda();
    const before = await stored(who);
    expectProblem(await get(who, { accept: 'text/html' }), 406);
    expectProblem(await put(who, { locale: 'fr' }, { accept: 'text/html' }), 406);
    expectProblem(await putXml(who, `<profile xmlns="${NS}"><locale>fr</locale></profile>`, { accept: 'text/html' }), 406);
    expectProblem(await patch(who, { locale: 'fr' }, { accept: 'text/html' }), 406);
    expect(await stored(who)).toEqual(before);
  });

  it.each<[string, Record<string, string>]>([
    ['text/plain', { 'content-type': 'text/plain' }],
    ['application/merge-patch+json on PUT', { 'content-type': 'application/merge-patch+json' }],
    ['application/x-www-form-urlencoded', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['application/octet-stream', { 'content-type': 'application/octet-stream' }],
  ])('PUT with Content-Type %s is 415 and changes nothing', async (_label, headers) => {
    const who = await personWithAda();
    const before = await stored(who);
    const payload = headers['content-type'] === 'application/x-www-form-urlencoded' ? 'locale=fr' : '{"locale":"fr"}';
    expectProblem(await put(who, payload, headers), 415);
    expect(await stored(who)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------
// Bad input: a 4xx problem, and nothing changes (profile, version, events).

const rawJson: [string, string, string][] = [
  ['U+0000', '{"name":{"given":"A\\u0000B"}}', '/name/given'],
  ['U+0007', '{"name":{"given":"A\\u0007B"}}', '/name/given'],
  ['a lone surrogate \\ud800', '{"name":{"given":"A\\ud800B"}}', '/name/given'],
  ['a lone low surrogate \\udc00', '{"custom":{"note":"\\udc00"}}', '/custom/note'],
  ['U+FFFE', '{"name":{"given":"A\\ufffeB"}}', '/name/given'],
  ['U+FFFE written as UTF-8', '{"name":{"given":"A\uFFFEB"}}', '/name/given'],
  ['U+0007 in a key', '{"custom":{"a\\u0007":"x"}}', '/custom/a\u0007'],
];

const badJson: [string, unknown, string | undefined][] = [
  ['an unknown top-level property', { ...ADA, nickname: 'Ada' }, '/nickname'],
  ['an unknown nested property', { name: { given: 'Ada', title: 'Countess' } }, '/name/title'],
  ['an unknown property in an address', { addresses: { home: { street: 'x' } } }, '/addresses/home/street'],
  ['birthDate as a number', { birthDate: 19151210 }, '/birthDate'],
  ['birthDate not a date', { birthDate: '1815-13-45' }, '/birthDate'],
  ['emails as an array', { emails: ['a@b.c'] }, '/emails'],
  ['an invalid email', { emails: { personal: 'ada-at-example.org' } }, '/emails/personal'],
  ['an upper-case label', { emails: { Work: 'ada@example.org' } }, '/emails/Work'],
  ['a label with a space', { phones: { 'my phone': '+44 1234' } }, '/phones/my phone'],
  ['a constructor label', { custom: { constructor: 1 } }, '/custom/constructor'],
  ['a prototype label', { custom: { prototype: 'x' } }, '/custom/prototype'],
  ['a bad phone', { phones: { mobile: 'call me' } }, '/phones/mobile'],
  ['a bad contact channel', { preferences: { contactChannels: ['pigeon'] } }, '/preferences/contactChannels/0'],
  ['a repeated diet', { preferences: { diet: ['vegan', 'vegan'] } }, '/preferences/diet'],
  ['a bad country', { addresses: { home: { country: 'gb' } } }, '/addresses/home/country'],
  ['a string for an object', { name: 'Ada Lovelace' }, '/name'],
  ['a null value', { locale: null }, '/locale'],
  ['an array document', [ADA], undefined],
];

const badXml: [string, string, number][] = [
  [
    'the billion laughs',
    `<?xml version="1.0"?><!DOCTYPE profile [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]><profile xmlns="${NS}"><name><given>&lol2;</given></name></profile>`,
    400,
  ],
  [
    'an external entity (XXE)',
    `<?xml version="1.0"?><!DOCTYPE profile [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><profile xmlns="${NS}"><name><given>&xxe;</given></name></profile>`,
    400,
  ],
  ['an external DTD', `<!DOCTYPE profile SYSTEM "http://attacker.example/x.dtd"><profile xmlns="${NS}"/>`, 400],
  ['an undeclared entity', `<profile xmlns="${NS}"><name><given>&nbsp;</given></name></profile>`, 400],
  ['trailing text after the root', `<profile xmlns="${NS}"><locale>fr</locale></profile>trailing`, 400],
  ['a second root element', `<profile xmlns="${NS}"><locale>fr</locale></profile><profile xmlns="${NS}"/>`, 400],
  ['a trailing processing instruction', `<profile xmlns="${NS}"><locale>fr</locale></profile><?pi x?>`, 400],
  ['the wrong root element', `<need xmlns="${NS}"><title>x</title></need>`, 400],
  ['a foreign namespace', `<profile xmlns="urn:other"><locale>fr</locale></profile>`, 400],
  ['a <__proto__> element', `<profile xmlns="${NS}"><__proto__><locale>fr</locale></__proto__></profile>`, 400],
  ['a <constructor> label element', `<profile xmlns="${NS}"><custom><constructor>1</constructor></custom></profile>`, 400],
  ['an unknown element', `<profile xmlns="${NS}"><nickname>Ada</nickname></profile>`, 400],
  ['an unknown nested element', `<profile xmlns="${NS}"><name><title>Dr</title></name></profile>`, 400],
  ['malformed XML', `<profile xmlns="${NS}"><name><given>Ada</name></profile>`, 400],
  ['an unclosed root', `<profile xmlns="${NS}"><locale>fr</locale>`, 400],
  ['not XML at all', '{"locale":"fr"}', 400],
  ['an empty body', '', 400],
  ['a character reference to U+0007', `<profile xmlns="${NS}"><name><given>A&#x7;B</given></name></profile>`, 400],
  ['a character reference to a surrogate', `<profile xmlns="${NS}"><name><given>A&#xD800;B</given></name></profile>`, 400],
  ['a character reference to U+FFFE', `<profile xmlns="${NS}"><name><given>A&#xFFFE;B</given></name></profile>`, 400],
  ['a literal U+0007', `<profile xmlns="${NS}"><name><given>A\u0007B</given></name></profile>`, 400],
  ['a wrong type for birthDate', `<profile xmlns="${NS}"><birthDate type="number">19151210</birthDate></profile>`, 400],
  ['an unknown attribute', `<profile xmlns="${NS}"><locale lang="x">fr</locale></profile>`, 400],
  ['a repeated element', `<profile xmlns="${NS}"><locale>fr</locale><locale>de</locale></profile>`, 400],
];

describe('bad input changes nothing', () => {
  let who: TestPerson;
  let before: Awaited<ReturnType<typeof stored>>;
  beforeAll(async () => {
    who = await personWithAda();
    before = await stored(who);
  });

  async function unchanged(): Promise<void> {
    expect(await stored(who)).toEqual(before);
    const read = await get(who);
    expectOk(read, 1);
    expect(read.json()).toStrictEqual(ADA);
  }

  it.each(rawJson)('PUT JSON with %s is refused at input', async (_label, body, pointer) => {
    expectProblem(await put(who, body), 400, pointer);
    await unchanged();
  });

  it.each(rawJson)('PATCH with %s is refused at input', async (_label, body, pointer) => {
    expectProblem(await patch(who, body), 400, pointer);
    await unchanged();
  });

  it.each(badJson)('PUT JSON with %s is 400', async (_label, body, pointer) => {
    expectProblem(await put(who, body), 400, pointer);
    await unchanged();
  });

  it.each(badXml)('PUT XML with %s is refused', async (_label, body, status) => {
    const response = await putXml(who, body);
    expectProblem(response, status);
    expect(response.body).not.toContain('root:');
    await unchanged();
  });

  it('an unknown XML element is reported at its pointer', async () => {
    expectProblem(await putXml(who, `<profile xmlns="${NS}"><name><title>Dr</title></name></profile>`), 400, '/name/title');
    await unchanged();
  });

  it('the same bad XML sent as text/xml is refused too', async () => {
    expectProblem(await putXml(who, badXml[0]?.[1] ?? '', { 'content-type': 'text/xml' }), 400);
    expectProblem(await putXml(who, `<profile xmlns="${NS}"><nickname>Ada</nickname></profile>`, { 'content-type': 'text/xml' }), 400, '/nickname');
    await unchanged();
  });

  it('malformed JSON, an empty JSON body and a __proto__ key are 400', async () => {
    expectProblem(await put(who, '{"locale": "fr"'), 400);
    expectProblem(await put(who, ''), 400);
    expectProblem(await put(who, '{"__proto__": {"locale": "fr"}}'), 400);
    expectProblem(await patch(who, '{"__proto__": {"locale": "fr"}}'), 400);
    expectProblem(await patch(who, '{"custom": {"constructor": {"prototype": {"x": 1}}}}'), 400);
    await unchanged();
  });

  it('a body over 256 KiB is 413, as JSON and as XML', async () => {
    const big = 'x'.repeat(260 * 1024);
    expectProblem(await put(who, { custom: { note: big } }), 413);
    expectProblem(await putXml(who, `<profile xmlns="${NS}"><custom><note>${big}</note></custom></profile>`), 413);
    expectProblem(await patch(who, { custom: { note: big } }), 413);
    await unchanged();
  });

  it('a body just under the limit but invalid is 400, not 413', async () => {
    expectProblem(await put(who, { custom: { note: 'x'.repeat(200 * 1024) } }), 400, '/custom/note');
    await unchanged();
  });
});

describe('isolation between people', () => {
  it("B's profile is unaffected by A's writes and B never sees A's values", async () => {
    const a = await server.person();
    const b = await server.person();
    const bProfile = { name: { given: 'Grace', family: 'Hopper' }, emails: { work: 'grace@navy.example' } };
    expectOk(await put(b, bProfile), 1);

    expectOk(await put(a, ADA), 1);
    expectOk(await patch(a, { locale: 'fr-FR', emails: { work: 'ada@analytical.example' } }), 2);
    expectOk(await putXml(a, ADA_XML), 3);

    for (const accept of ['application/json', 'application/xml']) {
      const read = await get(b, { accept });
      expectOk(read, 1, accept === 'application/json' ? 'json' : 'xml');
      for (const value of ['Ada', 'Lovelace', 'ada@example.org', 'ada@analytical.example', 'SW1Y 4JH', 'analytical', 'fr-FR', 'vegetarian']) {
        expect(read.body).not.toContain(value);
      }
    }
    expect((await get(b)).json()).toStrictEqual(bProfile);
    const bStored = await stored(b);
    expect(bStored.profile).toEqual({ document: bProfile, version: 1 });
    expect(bStored.events).toHaveLength(1);

    // A's If-None-Match/If-Match with B's ETag says nothing about A's profile.
    expectOk(await get(a, { 'if-none-match': '"1.json"' }), 3);
  });
});
