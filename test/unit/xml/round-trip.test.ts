import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromXml, toXml } from '../../../server/xml/index.js';
import { jsonWithXmlNames, need, needInput, needList, needPatch, profile, schemaErrors, schemas } from './arbitraries.js';

const documents = [
  { ref: 'profile.json', root: 'profile', arbitrary: profile as fc.Arbitrary<unknown> },
  { ref: 'need.json', root: 'need', arbitrary: need },
  { ref: 'need.json#/$defs/needInput', root: 'need', arbitrary: needInput },
  { ref: 'need.json#/$defs/needPatch', root: 'need', arbitrary: needPatch },
  { ref: 'need.json#/$defs/needList', root: 'needs', arbitrary: needList },
];

describe('toXml then fromXml gives back the document', () => {
  it.each(documents)('$ref', ({ ref, root, arbitrary }) => {
    const options = { root, schemaRef: ref, schemas };
    fc.assert(
      fc.property(arbitrary, (document) => {
        expect(schemaErrors(ref, document)).toBeNull();
        expect(fromXml(toXml(document, options), options)).toStrictEqual(document);
        // The compact form (feed entries) says the same.
        expect(fromXml(toXml(document, { ...options, compact: true }), options)).toStrictEqual(document);
      }),
      { numRuns: 200 },
    );
  });

  it('the compact form has nothing between elements, and keeps whitespace that is text', () => {
    const options = { root: 'profile', schemaRef: 'profile.json', schemas, compact: true };
    const document = { name: { given: ' Ada ', family: 'Lovelace' } };
    const compact = toXml(document, options);
    expect(compact).toContain('<profile xmlns="https://proffer.dev/ns/1"><name><given> Ada </given><family>Lovelace</family></name></profile>');
    expect(fromXml(compact, options)).toStrictEqual(document);
  });

  it('any JSON value with XML-name keys, where the schema says nothing (type attributes carry the types)', () => {
    const options = { root: 'value', schemaRef: 'https://example.test/any.json', schemas: { 'https://example.test/any.json': {} } };
    fc.assert(
      fc.property(jsonWithXmlNames, (value) => {
        expect(fromXml(toXml(value, options), options)).toStrictEqual(value);
      }),
      { numRuns: 300 },
    );
  });

  it('any custom value, including numbers that must come back bit for bit', () => {
    const options = { root: 'profile', schemaRef: 'profile.json', schemas };
    const custom = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)), fc.boolean(), fc.string());
    fc.assert(
      fc.property(custom, (value) => {
        const document = { custom: { value } };
        expect(fromXml(toXml(document, options), options)).toStrictEqual(document);
      }),
      { numRuns: 500 },
    );
  });
});
