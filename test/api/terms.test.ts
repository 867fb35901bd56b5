import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TERMS, TEMPLATES } from '../../policies/index.js';
import { startTestServer, type TestPerson, type TestServer, type TestVendor } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

const FULFILMENT = {
  title: 'Shops may deliver to me',
  rules: [
    {
      id: 'deliveries',
      effect: 'permit',
      fields: ['name', 'addresses.*', 'emails'],
      purposes: ['fulfillment', 'support'],
      duties: { maxRetentionDays: 90, noThirdPartySharing: true },
      approval: 'auto',
    },
    { id: 'phone-ask', effect: 'permit', fields: ['phones'], purposes: ['fulfillment'], approval: 'ask' },
    { id: 'never-birthday', effect: 'deny', fields: ['birthDate'] },
  ],
};

const request = (fields: { path: string; purpose: string; required: boolean; retentionDays: number }[]) => ({
  fields,
  accepts: { duties: { noThirdPartySharing: true, noProfiling: true, deleteOnRevoke: true } },
});

async function putTerms(person: TestPerson, body: unknown) {
  return server.request({ method: 'PUT', url: '/v1/me/terms', headers: person.auth, payload: body as object });
}

describe('GET|PUT /v1/me/terms and versions', () => {
  it('starts every person at version 1, the safe default: ask about everything', async () => {
    const person = await server.person();
    const response = await server.request({ method: 'GET', url: '/v1/me/terms', headers: person.auth });
    expect(response.statusCode).toBe(200);
    const terms = response.json();
    expect(terms.version).toBe(1);
    expect(terms.rules).toEqual(DEFAULT_TERMS.rules);
  });

  it('writes each change as a new immutable version; earlier ones stay readable, newest first, paged', async () => {
    const person = await server.person();
    const v2 = await putTerms(person, FULFILMENT);
    expect(v2.statusCode).toBe(200);
    expect(v2.json()).toMatchObject({ version: 2, title: FULFILMENT.title, rules: FULFILMENT.rules });
    const v3 = await putTerms(person, { rules: [FULFILMENT.rules[2]] });
    expect(v3.json().version).toBe(3);
    expect((await server.request({ method: 'GET', url: '/v1/me/terms', headers: person.auth })).json().version).toBe(3);

    const versions: number[] = [];
    let url: string | undefined = '/v1/me/terms/versions?limit=2';
    while (url) {
      const page = await server.request({ method: 'GET', url, headers: person.auth });
      expect(page.statusCode).toBe(200);
      versions.push(...page.json().items.map((t: { version: number }) => t.version));
      url = page.json().next ? `/v1/me/terms/versions?limit=2&cursor=${page.json().next}` : undefined;
    }
    expect(versions).toEqual([3, 2, 1]);
  });

  it.each([
    ['an unknown purpose', { rules: [{ id: 'bad-purpose', effect: 'permit', fields: ['name'], purposes: ['world-domination'] }] }, '/rules/0/purposes/0'],
    ['a malformed path', { rules: [{ id: 'bad-path', effect: 'permit', fields: ['addresses..home'] }] }, '/rules/0/fields/0'],
    ['an impossible duty value', { rules: [{ id: 'bad-duty', effect: 'permit', fields: ['name'], duties: { maxRetentionDays: -1 } }] }, '/rules/0/duties/maxRetentionDays'],
    ['a zero grant expiry', { rules: [{ id: 'bad-expiry', effect: 'permit', fields: ['name'], duties: { grantExpiryDays: 0 } }] }, '/rules/0/duties/grantExpiryDays'],
    ['a duplicate rule id', { rules: [{ id: 'twice', effect: 'permit', fields: ['name'] }, { id: 'twice', effect: 'deny', fields: ['emails'] }] }, '/rules/1/id'],
    ['an unknown property', { rules: [{ id: 'extra', effect: 'permit', fields: ['name'], sneaky: true }] }, '/rules/0/sneaky'],
  ])('refuses %s, names the offending rule, and leaves the terms in force', async (_name, body, pointer) => {
    const person = await server.person();
    expect((await putTerms(person, FULFILMENT)).statusCode).toBe(200);
    const refused = await putTerms(person, body);
    expect(refused.statusCode).toBe(400);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = refused.json();
    const ruleId = (body.rules.at(-1) as { id: string }).id;
    expect(problem.detail).toContain(ruleId);
    expect(problem.errors).toEqual(expect.arrayContaining([expect.objectContaining({ pointer, rule: ruleId })]));
    const current = await server.request({ method: 'GET', url: '/v1/me/terms', headers: person.auth });
    expect(current.json()).toMatchObject({ version: 2, rules: FULFILMENT.rules });
  });
});

describe('POST /v1/me/terms/evaluate', () => {
  let person: TestPerson;
  beforeAll(async () => {
    person = await server.person();
    await putTerms(person, FULFILMENT);
  });

  const evaluate = (body: unknown) => server.request({ method: 'POST', url: '/v1/me/terms/evaluate', headers: person.auth, payload: body as object });

  it('grants at once what the terms permit automatically: active', async () => {
    const response = await evaluate({
      request: request([
        { path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 },
        { path: 'addresses.home', purpose: 'fulfillment', required: true, retentionDays: 30 },
      ]),
    });
    expect(response.statusCode).toBe(200);
    const evaluation = response.json();
    expect(evaluation.outcome).toBe('active');
    expect(evaluation.fields.map((f: { decision: string; rule: string }) => [f.decision, f.rule])).toEqual([
      ['permit', 'deliveries'],
      ['permit', 'deliveries'],
    ]);
    expect(evaluation.explanation.length).toBeGreaterThan(0);
  });

  it('asks the person when a permitting rule says so: pending', async () => {
    const evaluation = (await evaluate({ request: request([{ path: 'phones', purpose: 'fulfillment', required: true, retentionDays: 30 }]) })).json();
    expect(evaluation.outcome).toBe('pending');
    expect(evaluation.fields[0]).toMatchObject({ decision: 'ask', rule: 'phone-ask' });
  });

  it('rejects a request whose required field is denied, and says which and why', async () => {
    const evaluation = (
      await evaluate({
        request: request([
          { path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 },
          { path: 'birthDate', purpose: 'fulfillment', required: true, retentionDays: 30 },
        ]),
      })
    ).json();
    expect(evaluation.outcome).toBe('rejected');
    expect(evaluation.fields[1]).toMatchObject({ path: 'birthDate', decision: 'deny', rule: 'never-birthday' });
    expect(evaluation.fields[1].reason).toBeTypeOf('string');
  });

  it('leaves out a denied optional field and still grants the rest', async () => {
    const evaluation = (
      await evaluate({
        request: request([
          { path: 'name', purpose: 'fulfillment', required: true, retentionDays: 30 },
          { path: 'emails', purpose: 'marketing', required: false, retentionDays: 30 },
        ]),
      })
    ).json();
    expect(evaluation.outcome).toBe('active');
    expect(evaluation.fields[1]).toMatchObject({ decision: 'deny', rule: null });
  });

  it('does not permit a longer retention than the rule allows', async () => {
    const evaluation = (await evaluate({ request: request([{ path: 'name', purpose: 'fulfillment', required: true, retentionDays: 365 }]) })).json();
    expect(evaluation.outcome).toBe('rejected');
  });

  it('refuses a malformed request without deciding anything', async () => {
    for (const body of [{}, { request: { fields: [] } }, { request: request([{ path: 'name', purpose: 'nope', required: true, retentionDays: 1 }]) }]) {
      const response = await evaluate(body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
    }
  });
});

describe('GET /v1/terms-templates', () => {
  it('lists the ready-made terms, each of which a person can adopt as is', async () => {
    const response = await server.request({ method: 'GET', url: '/v1/terms-templates' });
    expect(response.statusCode).toBe(200);
    const items = response.json().items as { id: string; terms: unknown }[];
    expect(items.map((t) => t.id)).toEqual(TEMPLATES.map((t) => t.id));
    expect(items.length).toBeGreaterThanOrEqual(4);
    const person = await server.person();
    for (const template of items) {
      const adopted = await putTerms(person, template.terms);
      expect(adopted.statusCode, template.id).toBe(200);
    }
  });
});

describe('public terms', () => {
  let person: TestPerson;
  let vendor: TestVendor;
  let favoured: TestVendor;
  beforeAll(async () => {
    person = await server.person();
    vendor = await server.vendor('Any Shop');
    favoured = await server.vendor('Favoured Shop');
    await server.request({
      method: 'PUT',
      url: '/v1/me/profile',
      headers: person.auth,
      payload: { name: { given: 'Zenobia' }, emails: { personal: 'zenobia@example.org' } },
    });
    await putTerms(person, {
      rules: [
        ...FULFILMENT.rules,
        { id: 'favoured-marketing', effect: 'permit', fields: ['emails'], purposes: ['marketing'], vendors: { ids: [favoured.id] } },
      ],
    });
  });

  it('are readable by anyone, as JSON, without private rules or values', async () => {
    const response = await server.request({ method: 'GET', url: `/v1/people/${person.handle}/terms` });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.body).toContain('fulfillment');
    expect(response.body).not.toContain(favoured.id);
    expect(response.body).not.toContain('Zenobia');
    expect(response.body).not.toContain('zenobia@example.org');
  });

  it('are an ODRL 2.2 policy in JSON-LD by Accept or ?format=odrl', async () => {
    for (const request of [
      { url: `/v1/people/${person.handle}/terms`, headers: { accept: 'application/ld+json' } },
      { url: `/v1/people/${person.handle}/terms?format=odrl`, headers: {} },
    ]) {
      const response = await server.request({ method: 'GET', ...request });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^application\/ld\+json/);
      const policy = response.json();
      expect(JSON.stringify(policy['@context'])).toContain('http://www.w3.org/ns/odrl.jsonld');
      expect(policy.uid).toContain(`/v1/people/${person.handle}/terms`);
      expect(response.body).not.toContain(favoured.id);
    }
  });

  it('answer an unknown handle and an erased one alike', async () => {
    const erased = await server.person();
    const before = await server.request({ method: 'GET', url: `/v1/people/${erased.handle}/terms` });
    expect(before.statusCode).toBe(200);
    await server.request({ method: 'DELETE', url: '/v1/me', headers: erased.auth });
    const gone = await server.request({ method: 'GET', url: `/v1/people/${erased.handle}/terms` });
    const never = await server.request({ method: 'GET', url: '/v1/people/never-existed-here/terms' });
    expect(gone.statusCode).toBe(404);
    expect(never.statusCode).toBe(404);
    expect(gone.json()).toEqual(never.json());
    const preview = await server.request({
      method: 'POST',
      url: `/v1/people/${erased.handle}/terms/preview`,
      payload: request([{ path: 'name', purpose: 'fulfillment', required: true, retentionDays: 1 }]),
    });
    expect(preview.statusCode).toBe(404);
  });

  it('refuses a malformed handle (400) rather than looking it up', async () => {
    expect((await server.request({ method: 'GET', url: '/v1/people/Not_A_Handle/terms' })).statusCode).toBe(400);
  });

  describe('preview', () => {
    const marketingEmails = request([{ path: 'emails', purpose: 'marketing', required: true, retentionDays: 30 }]);
    const preview = (headers: Record<string, string>) =>
      server.request({ method: 'POST', url: `/v1/people/${person.handle}/terms/preview`, headers, payload: marketingEmails });

    it('decides a draft as from an unnamed vendor without a token, never showing values', async () => {
      const response = await preview({});
      expect(response.statusCode).toBe(200);
      expect(response.json().outcome).toBe('rejected');
      expect(response.body).not.toContain('zenobia@example.org');
    });

    it("decides as from the vendor whose token is given: a rule naming it applies to it alone", async () => {
      const forFavoured = await preview(favoured.auth);
      expect(forFavoured.statusCode).toBe(200);
      expect(forFavoured.json().outcome).toBe('active');
      expect(forFavoured.body).not.toContain('zenobia@example.org');
      const forOther = await preview(vendor.auth);
      expect(forOther.json().outcome).toBe('rejected');
    });

    it("refuses a person's token (403) and a bad token (401) instead of falling back to anonymous", async () => {
      expect((await preview(person.auth)).statusCode).toBe(403);
      expect((await preview({ authorization: 'Bearer not-a-token' })).statusCode).toBe(401);
    });
  });
});
