// Everything outside the XML 1.0 `Char` production; in `u` mode a lone surrogate is one code point, so it matches too.
const NON_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

const NAME_START =
  'A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D' +
  '\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}';
const NAME_CHAR = `${NAME_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F\\u2040`;
// eslint-disable-next-line no-misleading-character-class -- code point ranges from the XML spec, not glyphs
const NC_NAME = new RegExp(`^[${NAME_START}][${NAME_CHAR}]*$`, 'u');

/** The code point of the first character XML 1.0 cannot carry, or undefined. */
export function firstNonXmlCharacter(text: string): number | undefined {
  return NON_XML_CHAR.exec(text)?.[0].codePointAt(0);
}

export function describeCodePoint(codePoint: number): string {
  return `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * JSON Pointer of the first key or string (depth first, in document order) holding a character
 * XML 1.0 cannot carry, or null when the whole value can be written as XML.
 */
export function findNonXmlCharacter(value: unknown): string | null {
  // An explicit stack: JSON from a request can be nested deeper than the call stack allows.
  const pending: Array<{ value: unknown; pointer: string }> = [{ value, pointer: '' }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value: current, pointer } = next;
    if (typeof current === 'string') {
      if (NON_XML_CHAR.test(current)) return pointer;
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) pending.push({ value: current[i], pointer: `${pointer}/${i}` });
    } else if (typeof current === 'object' && current !== null) {
      const keys = Object.keys(current);
      for (const key of keys) if (NON_XML_CHAR.test(key)) return `${pointer}/${pointerToken(key)}`;
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] as string;
        pending.push({ value: (current as Record<string, unknown>)[key], pointer: `${pointer}/${pointerToken(key)}` });
      }
    }
  }
  return null;
}

export function pointerToken(key: string | number): string {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** A name without a colon that XML allows for elements and attributes. */
export function isNcName(name: string): boolean {
  return NC_NAME.test(name);
}

/** Names that, used as object keys, would reach Object.prototype (`__proto__`, `constructor`, `toString`, ...). */
export function isReservedName(name: string): boolean {
  return name in Object.prototype || name === 'prototype';
}

const XML_BLANK = /^[ \t\r\n]*$/;

/** Whitespace as XML defines it (not JavaScript's `\s`, which also matches U+00A0, U+FEFF, ...). */
export function isXmlBlank(text: string): boolean {
  return XML_BLANK.test(text);
}

export function trimXml(text: string): string {
  return text.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
}
