import { describe, expect, it } from 'vitest';
import { findNonXmlCharacter } from '../../../server/xml/index.js';

describe('findNonXmlCharacter', () => {
  it.each([
    ['NUL', '\u0000'],
    ['U+0001', '\u0001'],
    ['U+001F', '\u001F'],
    ['a lone high surrogate', '\uD800'],
    ['a lone low surrogate', 'x\uDC00y'],
    ['U+FFFE', '\uFFFE'],
    ['U+FFFF', '\uFFFF'],
  ])('finds %s in a value and in a key', (_name, bad) => {
    expect(findNonXmlCharacter({ name: { given: `Ada${bad}` } })).toBe('/name/given');
    expect(findNonXmlCharacter({ custom: { [`k${bad}`]: 'v' } })).toBe(`/custom/k${bad}`);
    expect(findNonXmlCharacter({ lines: ['ok', bad] })).toBe('/lines/1');
    expect(findNonXmlCharacter(bad)).toBe('');
  });

  it('escapes the pointer (RFC 6901) and reports the first problem in document order', () => {
    expect(findNonXmlCharacter({ 'a/b': { '~c': '\u0000' } })).toBe('/a~1b/~0c');
    expect(findNonXmlCharacter({ a: ['fine', { b: '\u0001' }], c: '\u0002' })).toBe('/a/1/b');
    expect(findNonXmlCharacter({ a: { ok: 1 }, ['\u0003']: 'x', z: '\u0004' })).toBe('/\u0003');
  });

  it('accepts what XML carries: astral characters, tab, CR, LF, the edges of the ranges', () => {
    expect(findNonXmlCharacter({ a: '😀 \u{10000} \u{10FFFF} \t\r\n \uD7FF \uE000 \uFFFD', ['é😀']: [1, true, null, ''] })).toBeNull();
    expect(findNonXmlCharacter(null)).toBeNull();
    expect(findNonXmlCharacter(42)).toBeNull();
  });

  it('copes with values nested deeper than the call stack', () => {
    let deep: unknown = '\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findNonXmlCharacter(deep)).toBe('/0'.repeat(100_000));
  });
});
