import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromXml, loadSchemas, PROFFER_XML_NAMESPACE, schemaSet, toXml } from '../../../server/xml/index.js';
import { schemaErrors, schemas } from './arbitraries.js';

const profileOptions = { root: 'profile', schemaRef: 'profile.json', schemas };
const needInputOptions = { root: 'need', schemaRef: 'need.json#/$defs/needInput', schemas };
const NS = `xmlns="${PROFFER_XML_NAMESPACE}"`;
const readProfile = (body: string) => fromXml(`<profile ${NS}>${body}</profile>`, profileOptions);

describe('reading XML as a person writes it', () => {
  it('reads a hand-written profile', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<!-- Ada's profile, typed by hand -->
<profile xmlns="https://proffer.dev/ns/1">
  <name>
    <given>Ada</given>
    <family>Lovelace</family>
  </name>
  <emails>
    <personal>ada@example.org</personal>
    <work>ada@analytical.example</work>
  </emails>
  <phones>
    <mobile>+44 20 7946 0000</mobile>
  </phones>
  <addresses>
    <home>
      <lines>
        <item>12 St James's Square</item>
        <item>Flat 2</item>
      </lines>
      <locality>London</locality>
      <postalCode>SW1Y 4JH</postalCode>
      <country>GB</country>
    </home>
  </addresses>
  <birthDate>1815-12-10</birthDate>
  <locale>en-GB</locale>
  <preferences>
    <sizes>
      <shoe>EU 38</shoe>
    </sizes>
    <diet>
      <item>vegetarian</item>
    </diet>
    <contactChannels>
      <item>email</item>
      <item>post</item>
    </contactChannels>
    <currency>GBP</currency>
  </preferences>
  <custom>
    <favourite-engine>analytical</favourite-engine>
    <newsletter type="boolean">false</newsletter>
    <engines-built type="number">2</engines-built>
    <!-- without type, a custom value is text -->
    <born-in>1815</born-in>
  </custom>
</profile>
`;
    const expected = {
      name: { given: 'Ada', family: 'Lovelace' },
      emails: { personal: 'ada@example.org', work: 'ada@analytical.example' },
      phones: { mobile: '+44 20 7946 0000' },
      addresses: { home: { lines: ["12 St James's Square", 'Flat 2'], locality: 'London', postalCode: 'SW1Y 4JH', country: 'GB' } },
      birthDate: '1815-12-10',
      locale: 'en-GB',
      preferences: { sizes: { shoe: 'EU 38' }, diet: ['vegetarian'], contactChannels: ['email', 'post'], currency: 'GBP' },
      custom: { 'favourite-engine': 'analytical', newsletter: false, 'engines-built': 2, 'born-in': '1815' },
    };
    expect(fromXml(xml, profileOptions)).toStrictEqual(expected);
    expect(schemaErrors('profile.json', expected)).toBeNull();
    // The same with Windows line endings.
    expect(fromXml(xml.replace(/\n/g, '\r\n'), profileOptions)).toStrictEqual(expected);
  });

  it('reads a hand-written need: numbers from the schema, whitespace around them allowed', () => {
    const xml = `<need>
  <title>A second-hand road bike, 54 cm frame</title>
  <category>sports/cycling</category>
  <quantity> 1 </quantity>
  <budget>
    <min>0</min>
    <max>600.50</max>
    <currency>EUR</currency>
  </budget>
  <wantedBy>2027-03-01</wantedBy>
</need>`;
    expect(fromXml(xml, needInputOptions)).toStrictEqual({
      title: 'A second-hand road bike, 54 cm frame',
      category: 'sports/cycling',
      quantity: 1,
      budget: { min: 0, max: 600.5, currency: 'EUR' },
      wantedBy: '2027-03-01',
    });
  });

  it('reads empty and whitespace-only elements as the schema expects', () => {
    expect(readProfile('<name/><emails>\n  </emails><preferences><diet/><sizes></sizes></preferences>')).toStrictEqual({
      name: {},
      emails: {},
      preferences: { diet: [], sizes: {} },
    });
    expect(readProfile('<name><given/><family>  </family><nickname> Ada\n</nickname></name>')).toStrictEqual({
      name: { given: '', family: '  ', nickname: ' Ada\n' },
    });
  });

  it('keeps text exactly: CDATA, references, comments inside text, CR only as &#xD;', () => {
    expect(readProfile('<name><given><![CDATA[<Ada> & ]]></given><family>A<!-- x -->da &lt;&amp;&gt; &#x1F600;&#233;</family></name>')).toStrictEqual({
      name: { given: '<Ada> & ', family: 'Ada <&> 😀é' },
    });
    expect(readProfile('<name><given>a\r\nb\rc&#xD;&#13;d</given></name>')).toStrictEqual({ name: { given: 'a\nb\nc\r\rd' } });
  });

  it('accepts a document without a namespace, or with the Proffer namespace on a prefix', () => {
    expect(fromXml('<profile><name><given>Ada</given></name></profile>', profileOptions)).toStrictEqual({ name: { given: 'Ada' } });
    expect(
      fromXml(`<p:profile xmlns:p="${PROFFER_XML_NAMESPACE}"><p:name><p:given>Ada</p:given></p:name></p:profile>`, profileOptions),
    ).toStrictEqual({ name: { given: 'Ada' } });
  });
});

describe('leaving mistakes for schema validation to report', () => {
  it('keeps text that is not a number as text', () => {
    const need = fromXml(`<need ${NS}><title>Bike</title><category>sports</category><quantity>two</quantity></need>`, needInputOptions);
    expect(need).toStrictEqual({ title: 'Bike', category: 'sports', quantity: 'two' });
    expect(schemaErrors('need.json#/$defs/needInput', need)).toBe('data/quantity must be integer');
  });

  it('keeps unknown elements, as text or objects', () => {
    const profile = readProfile('<shoeSize>38</shoeSize><name><given>Ada</given><title><short>Lady</short></title></name>');
    expect(profile).toStrictEqual({ shoeSize: '38', name: { given: 'Ada', title: { short: 'Lady' } } });
    expect(schemaErrors('profile.json', profile)).toMatch(/must NOT have additional properties/);
  });

  it('reads the wrong shape as what it looks like', () => {
    expect(readProfile('<name>Ada</name>')).toStrictEqual({ name: 'Ada' });
    expect(readProfile('<birthDate><year>1815</year></birthDate>')).toStrictEqual({ birthDate: { year: '1815' } });
    expect(readProfile('<preferences><diet><food>fish</food></diet></preferences>')).toStrictEqual({
      preferences: { diet: { food: 'fish' } },
    });
    expect(readProfile('<preferences><diet>fish</diet></preferences>')).toStrictEqual({ preferences: { diet: 'fish' } });
  });
});

describe('writing', () => {
  const example = {
    custom: { b: 'text', a: 1.5, c: true },
    name: { family: 'Lovelace', given: 'Ada' },
    preferences: { diet: [] },
  };

  it('writes a declaration, the namespace, schema order then insertion order, type only where needed', () => {
    expect(toXml(example, profileOptions)).toBe(`<?xml version="1.0" encoding="UTF-8"?>
<profile xmlns="${PROFFER_XML_NAMESPACE}">
  <name>
    <given>Ada</given>
    <family>Lovelace</family>
  </name>
  <preferences>
    <diet/>
  </preferences>
  <custom>
    <b>text</b>
    <a type="number">1.5</a>
    <c type="boolean">true</c>
  </custom>
</profile>`);
  });

  it('writes null as nil="true" and reads it back', () => {
    const patch = { wantedBy: null, quantity: null, title: 'x' };
    const options = { root: 'need', schemaRef: 'need.json#/$defs/needPatch', schemas };
    const xml = toXml(patch, options);
    expect(xml).toContain('<wantedBy nil="true"/>');
    expect(fromXml(xml, options)).toStrictEqual(patch);
  });

  it('escapes markup and CR so that strings come back exactly', () => {
    const given = ' <a href="x">&amp;</a> ]]> \r\n\r 😀 ';
    const xml = toXml({ name: { given } }, profileOptions);
    expect(xml).toContain('<given> &lt;a href="x"&gt;&amp;amp;&lt;/a&gt; ]]&gt; &#xD;\n&#xD; 😀 </given>');
    expect(fromXml(xml, profileOptions)).toStrictEqual({ name: { given } });
  });

  it('writes numbers that read back as the same number; -0 becomes 0', () => {
    const values = [0.1, 1 / 3, 1e21, 1e-7, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MAX_SAFE_INTEGER + 2, -123456789.125];
    const custom = Object.fromEntries(values.map((value, i) => [`n${i}`, value]));
    expect(fromXml(toXml({ custom }, profileOptions), profileOptions)).toStrictEqual({ custom });
    expect(fromXml(toXml({ custom: { z: -0 } }, profileOptions), profileOptions)).toStrictEqual({ custom: { z: 0 } });
  });

  it('leaves out undefined properties, as JSON does', () => {
    expect(fromXml(toXml({ name: { given: 'Ada', family: undefined } }, profileOptions), profileOptions)).toStrictEqual({
      name: { given: 'Ada' },
    });
  });

  it('writes and reads a property named _ (xml2js\'s default text key)', () => {
    const document = { custom: { _: 'x', a_b: 'y' } };
    expect(fromXml(toXml(document, profileOptions), profileOptions)).toStrictEqual(document);
  });

  it('refuses what XML cannot carry', () => {
    for (const key of ['1st', 'a b', 'a:b', '', 'constructor', '__proto__', 'prototype']) {
      expect(() => toXml({ custom: JSON.parse(`{${JSON.stringify(key)}: 1}`) }, profileOptions)).toThrow(/not usable/);
    }
    expect(() => toXml({ name: { given: 'a\u0000' } }, profileOptions)).toThrow(/\/name\/given/);
    expect(() => toXml({ custom: { a: Number.NaN } }, profileOptions)).toThrow(/not a JSON value/);
    expect(() => toXml({ custom: { a: new Date() } }, profileOptions)).toThrow(/not a JSON value/);
    expect(() => toXml({ lines: [undefined] }, profileOptions)).toThrow(/not a JSON value/);
    expect(() => toXml({}, { ...profileOptions, root: 'not a name' })).toThrow(/not usable/);
  });
});

describe('schemas', () => {
  it('loads schemas/*.json by $id and follows refs', () => {
    const set = loadSchemas();
    expect([...set.byId.keys()]).toContain('https://proffer.dev/schemas/profile.json');
    expect(set.resolve('profile.json').schema).toBe(set.byId.get('https://proffer.dev/schemas/profile.json'));
    expect(set.resolve('https://proffer.dev/schemas/need.json#/$defs/needInput').schema).toMatchObject({ title: 'NeedInput' });
    expect(set.resolve('#/$defs/label', 'https://proffer.dev/schemas/profile.json')).toEqual({
      schema: expect.objectContaining({ pattern: '^[a-z][a-z0-9-]{0,31}$' }),
      base: 'https://proffer.dev/schemas/profile.json',
    });
    expect(set.resolve('account.json#/$defs/person', 'https://proffer.dev/schemas/export.json').schema).toMatchObject({ title: 'Person' });
    expect(() => set.resolve('nothing.json')).toThrow();
    expect(() => set.resolve('profile.json#/$defs/nothing')).toThrow();
  });

  it('takes schemas keyed by $id instead of a SchemaSet', () => {
    const record = Object.fromEntries(schemas.byId);
    const options = { root: 'need', schemaRef: 'https://proffer.dev/schemas/need.json#/$defs/needList', schemas: record };
    const list = { items: [], next: null };
    expect(fromXml(toXml(list, options), options)).toStrictEqual(list);
    expect(schemaSet(record).resolve('need.json').base).toBe('https://proffer.dev/schemas/need.json');
  });

  it('reads an export, following refs across files', () => {
    const exportSchema = schemas.byId.get('https://proffer.dev/schemas/export.json') as { examples: unknown[] };
    const options = { root: 'export', schemaRef: 'export.json', schemas };
    const document = exportSchema.examples[0];
    expect(fromXml(toXml(document, options), options)).toStrictEqual(document);
    expect(toXml(document, options)).not.toContain('type=');
  });
});

describe('docs/xml.md', () => {
  const docs = readFileSync(new URL('../../../docs/xml.md', import.meta.url), 'utf8');
  const blocks = (language: string) => [...docs.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1] ?? '');

  it('shows the profile exactly as toXml writes it', () => {
    const [json] = blocks('json');
    const [xml] = blocks('xml');
    const profile: unknown = JSON.parse(json ?? '');
    expect(toXml(profile, profileOptions)).toBe(xml?.trimEnd());
    expect(fromXml(xml ?? '', profileOptions)).toStrictEqual(profile);
    expect(schemaErrors('profile.json', profile)).toBeNull();
  });

  it('shows a need list and a merge patch that read as described', () => {
    const [list, patch] = (blocks('xml')[1] ?? '').split('\n\n');
    expect(fromXml(list ?? '', { root: 'needs', schemaRef: 'need.json#/$defs/needList', schemas })).toStrictEqual({ items: [], next: null });
    const options = { root: 'need', schemaRef: 'need.json#/$defs/needPatch', schemas };
    expect(fromXml(patch ?? '', options)).toStrictEqual({ budget: { max: 700, currency: 'EUR' }, wantedBy: null });
  });
});
