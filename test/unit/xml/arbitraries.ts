import fc from 'fast-check';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { findNonXmlCharacter, loadSchemas } from '../../../server/xml/index.js';

export const schemas = loadSchemas();

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats.default(ajv);
for (const schema of schemas.byId.values()) ajv.addSchema(schema);

/** Validates against `ref` (relative to https://proffer.dev/schemas/) and returns ajv's errors, or null. */
export function schemaErrors(ref: string, value: unknown): string | null {
  const validate = ajv.getSchema(`https://proffer.dev/schemas/${ref}`);
  if (validate === undefined) throw new Error(`no schema ${ref}`);
  return validate(value) ? null : ajv.errorsText(validate.errors);
}

const reserved = (name: string) => name in Object.prototype || name === 'prototype';
const codePoints = (text: string) => [...text].length;

// Pieces that stress XML text: markup, the CDATA end, whitespace of every kind, CR, astral characters.
const tricky = fc.constantFrom(
  ' ', '  ', '\t', '\n', '\r', '\r\n', '\n\r', ']]>', ']]', '<', '>', '&', '&amp;', '&#xD;', '"', "'",
  '<b>x</b>', '<!-- c -->', '<?pi?>', '<![CDATA[', '😀', '\u{10FFFF}', '\u{10000}', '\uFFFD', '\uE000',
  '\u00A0', '\uFEFF', '\u2028', 'é', 'e\u0301', '0', '-1', 'true', 'null',
);
const anyXmlCodePoint = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 1 })
  .filter((text) => findNonXmlCharacter(text) === null);
const xmlUnit = fc.oneof(
  { arbitrary: tricky, weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }), weight: 3 },
  { arbitrary: anyXmlCodePoint, weight: 1 },
);

/** Any text XML can carry, `minLength` to `maxLength` code points. */
export const xmlText = (minLength: number, maxLength: number) =>
  fc
    .string({ unit: xmlUnit, minLength: Math.min(minLength, 1), maxLength: Math.min(maxLength, 24) })
    .filter((text) => codePoints(text) >= minLength && codePoints(text) <= maxLength);

const shortText = xmlText(1, 200);
const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/).filter((name) => !reserved(name));
const byLabel = <T>(value: fc.Arbitrary<T>, maxKeys: number) =>
  fc.dictionary(label, value, { maxKeys, noNullPrototype: true });
const languageTag = fc.stringMatching(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$/);
const upper = (length: number) => fc.stringMatching(new RegExp(`^[A-Z]{${length}}$`));
const instant = fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2199-12-31T23:59:59Z'), noInvalidDate: true });
const date = instant.map((d) => d.toISOString().slice(0, 10));
const dateTime = instant.map((d) => d.toISOString());
// -0 is written as 0 (documented); everything else must come back bit for bit.
const double = (constraints: fc.DoubleConstraints = {}) =>
  fc.double({ noNaN: true, noDefaultInfinity: true, ...constraints }).map((n) => (n === 0 ? 0 : n));
const record = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }, requiredKeys: (keyof T)[] = []) =>
  fc.record(model, { requiredKeys, noNullPrototype: true });

const postalAddress = record({
  recipient: shortText,
  lines: fc.array(shortText, { minLength: 1, maxLength: 4 }),
  locality: shortText,
  region: shortText,
  postalCode: xmlText(1, 16),
  country: upper(2),
});

export const profile = record({
  name: record({
    prefix: shortText,
    given: shortText,
    middle: shortText,
    family: shortText,
    suffix: shortText,
    nickname: shortText,
  }),
  emails: byLabel(fc.stringMatching(/^[a-z0-9]{1,10}(\.[a-z0-9]{1,10})?@[a-z0-9]{1,10}\.[a-z]{2,6}$/), 4),
  phones: byLabel(fc.stringMatching(/^\+?[0-9][0-9 ().-]{2,31}$/), 4),
  addresses: byLabel(postalAddress, 3),
  birthDate: date,
  locale: languageTag,
  preferences: record({
    sizes: byLabel(shortText, 4),
    diet: fc.uniqueArray(label, { maxLength: 5 }),
    contactChannels: fc.shuffledSubarray(['email', 'phone', 'sms', 'post', 'app']),
    language: languageTag,
    currency: upper(3),
  }),
  custom: byLabel(
    fc.oneof(
      xmlText(0, 100),
      fc.constantFrom('', ' ', '12', '-0', '1e5', 'true', 'false', ' 7 '),
      double(),
      fc.integer(),
      fc.boolean(),
    ),
    8,
  ),
});

const needFields = {
  title: shortText,
  description: xmlText(0, 4000),
  category: fc.stringMatching(/^[a-z0-9]+(-[a-z0-9]+)*(\/[a-z0-9]+(-[a-z0-9]+)*){0,3}$/).filter((c) => c.length <= 64),
  quantity: fc.integer({ min: 1, max: 1_000_000 }),
  budget: record({ min: double({ min: 0, max: 1e9 }), max: double({ min: 0, max: 1e9 }), currency: upper(3) }, ['currency']),
  location: record({ locality: shortText, region: shortText, postalCode: xmlText(1, 16), country: upper(2) }),
  wantedBy: date,
  visibility: fc.constantFrom('subscribers', 'public'),
};

export const needInput = record(needFields, ['title', 'category']);

export const need = record(
  {
    id: fc.uuid(),
    ...needFields,
    status: fc.constantFrom('open', 'fulfilled', 'withdrawn', 'expired'),
    version: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    createdAt: dateTime,
    updatedAt: dateTime,
  },
  ['id', 'title', 'category', 'status', 'visibility', 'version', 'createdAt', 'updatedAt'],
);

const orNull = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: null });

export const needPatch = record({
  title: needFields.title,
  description: orNull(needFields.description),
  category: needFields.category,
  quantity: orNull(needFields.quantity),
  budget: orNull(needFields.budget),
  location: orNull(needFields.location),
  wantedBy: orNull(needFields.wantedBy),
  visibility: needFields.visibility,
  status: fc.constantFrom('open', 'fulfilled', 'withdrawn'),
}).filter((patch) => Object.keys(patch).length > 0);

export const needList = record({ items: fc.array(need, { maxLength: 3 }), next: orNull(xmlText(0, 40)) }, ['items', 'next']);

const ncName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,8}$/).filter((name) => !reserved(name));

/** Any JSON value whose keys are XML names (so it can be written without a schema's help). */
export const jsonWithXmlNames = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    xmlText(0, 20),
    double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(ncName, tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value;
