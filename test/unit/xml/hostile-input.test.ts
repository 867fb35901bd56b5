import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromXml, PROFFER_XML_NAMESPACE, toXml, XmlInputError } from '../../../server/xml/index.js';
import { profile, schemas } from './arbitraries.js';

const options = { root: 'profile', schemaRef: 'profile.json', schemas };
const NS = `xmlns="${PROFFER_XML_NAMESPACE}"`;

function refused(xml: unknown, reason: RegExp, extra: { maxBytes?: number; maxDepth?: number } = {}): XmlInputError {
  let caught: unknown;
  try {
    fromXml(xml as string, { ...options, ...extra });
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(XmlInputError);
  expect((caught as XmlInputError).reason).toMatch(reason);
  return caught as XmlInputError;
}

describe('DTDs and entities', () => {
  it('refuses the billion laughs', () => {
    const entities = Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`).join('\n');
    const xml = `<?xml version="1.0"?>\n<!DOCTYPE profile [\n<!ENTITY lol0 "lol">\n${entities}\n]>\n<profile ${NS}><name><given>&lol9;</given></name></profile>`;
    refused(xml, /DOCTYPE/);
  });

  it('refuses an external entity (XXE)', () => {
    const xml = `<?xml version="1.0"?><!DOCTYPE profile [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><profile ${NS}><name><given>&xxe;</given></name></profile>`;
    refused(xml, /DOCTYPE/);
  });

  it('refuses an external DTD and a DOCTYPE without a subset', () => {
    refused(`<!DOCTYPE profile SYSTEM "http://attacker.example/x.dtd"><profile ${NS}/>`, /DOCTYPE/);
    refused(`<!DOCTYPE profile><profile ${NS}/>`, /DOCTYPE/);
  });

  it('refuses entities that XML does not predefine, HTML ones included', () => {
    refused(`<profile ${NS}><name><given>&xxe;</given></name></profile>`, /malformed XML/);
    refused(`<profile ${NS}><name><given>&nbsp;</given></name></profile>`, /malformed XML/);
  });

  it('refuses other <!...> declarations', () => {
    refused(`<profile ${NS}><!ELEMENT profile ANY></profile>`, /declarations are not allowed/);
  });
});

describe('processing instructions and the XML declaration', () => {
  it('refuses processing instructions', () => {
    refused(`<?xml-stylesheet href="x.xsl"?><profile ${NS}/>`, /processing instructions/);
    refused(`<profile ${NS}><?php system('id'); ?></profile>`, /processing instructions/);
    refused(`<profile ${NS}/><?pi after?>`, /processing instructions/);
  });

  it('accepts the XML declaration only first, as version 1.0 in UTF-8', () => {
    expect(fromXml(`<?xml version="1.0" encoding="utf-8" standalone="yes"?><profile ${NS}/>`, options)).toEqual({});
    expect(fromXml(`\uFEFF<?xml version='1.0'?>\n<profile ${NS}/>`, options)).toEqual({});
    refused(` <?xml version="1.0"?><profile ${NS}/>`, /processing instructions/);
    refused(`<!-- first --><?xml version="1.0"?><profile ${NS}/>`, /processing instructions/);
    refused(`<?xml version="1.0"?><?xml version="1.0"?><profile ${NS}/>`, /processing instructions/);
    refused(`<?xml version="1.1"?><profile ${NS}/>`, /version 1.0, UTF-8/);
    refused(`<?xml version="1.0" encoding="ISO-8859-1"?><profile ${NS}/>`, /version 1.0, UTF-8/);
  });
});

describe('one root element, the expected one', () => {
  it('refuses content after the root element', () => {
    refused(`<profile ${NS}/>garbage`, /malformed XML|outside the root/);
    refused(`<profile ${NS}/><![CDATA[x]]>`, /outside the root/);
    refused(`<profile ${NS}></profile></profile>`, /malformed XML/);
  });

  it('allows whitespace and comments around the root element', () => {
    expect(fromXml(`<!-- a -->\n<profile ${NS}/>\n<!-- b -->\n`, options)).toEqual({});
  });

  it('refuses a second root', () => {
    refused(`<profile ${NS}/><profile ${NS}/>`, /only one root/);
  });

  it('refuses another root element or another namespace', () => {
    refused(`<need ${NS}/>`, /root element must be <profile>/);
    refused(`<profile xmlns="urn:evil"/>`, /namespace/);
    refused(`<p:profile xmlns:p="${PROFFER_XML_NAMESPACE}/2"/>`, /namespace/);
    refused(`<profile ${NS}><x:name xmlns:x="urn:other"/></profile>`, /namespace/);
    refused(`<profile ${NS}><name xmlns=""/></profile>`, /namespace/);
    refused(`<profile><name xmlns="${PROFFER_XML_NAMESPACE}"/></profile>`, /namespace/);
  });

  it('refuses an empty document', () => {
    refused('', /no <profile> element/);
    refused('  \n', /no <profile> element/);
    refused('<!-- nothing -->', /no <profile> element/);
  });
});

describe('names that would reach Object.prototype', () => {
  it.each(['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__'])(
    'refuses the element <%s>',
    (name) => {
      refused(`<profile ${NS}><${name}><polluted>yes</polluted></${name}></profile>`, /not allowed/);
      refused(`<profile ${NS}><custom><${name}>yes</${name}></custom></profile>`, /not allowed/);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    },
  );

  it('refuses such a root element', () => {
    refused(`<__proto__ ${NS}/>`, /not allowed/);
  });

  it('refuses the attribute __proto__ and its kin', () => {
    refused(`<profile ${NS}><name __proto__="x"/></profile>`, /attribute name __proto__/);
    refused(`<profile ${NS} constructor="x"/>`, /attribute name constructor/);
    refused(`<profile ${NS} xmlns:__proto__="urn:x"/>`, /attribute name xmlns:__proto__/);
  });
});

describe('attributes', () => {
  it('allows only type, nil and namespace declarations', () => {
    expect(fromXml(`<profile ${NS} xmlns:p="urn:unused"><custom><a type="number">1</a></custom></profile>`, options)).toEqual({
      custom: { a: 1 },
    });
    refused(`<profile ${NS} id="1"/>`, /only type, nil and xmlns/);
    refused(`<profile ${NS} xml:lang="en"/>`, /only type, nil and xmlns/);
    refused(`<profile ${NS} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><name xsi:nil="true"/></profile>`, /only type, nil/);
  });

  it('refuses an attribute given twice', () => {
    refused(`<profile ${NS}><custom><a type="number" type="string">1</a></custom></profile>`, /twice/);
  });

  it('refuses bad type and nil values', () => {
    expect(refused(`<profile ${NS}><custom><a type="date">1</a></custom></profile>`, /type="date"/).pointer).toBe('/custom/a');
    refused(`<profile ${NS}><custom><a type="number">two</a></custom></profile>`, /not a number/);
    refused(`<profile ${NS}><custom><a type="boolean">yes</a></custom></profile>`, /not a boolean/);
    refused(`<profile ${NS}><custom><a type="number">1e400</a></custom></profile>`, /not a number/);
    refused(`<profile ${NS}><custom><a type="string"><b/></a></custom></profile>`, /child elements/);
    refused(`<profile ${NS}><custom type="object">text</custom></profile>`, /holds text/);
    refused(`<profile ${NS}><custom type="array"><a/></custom></profile>`, /<item>/);
    refused(`<profile ${NS}><name nil="maybe"/></profile>`, /nil must be/);
    refused(`<profile ${NS}><name nil="true">Ada</name></profile>`, /must be empty/);
    refused(`<profile ${NS}><name nil="true" type="string"/></profile>`, /must be empty/);
  });
});

describe('structure', () => {
  it('refuses mixed content', () => {
    const error = refused(`<profile ${NS}><name>Ada <given>Ada</given></name></profile>`, /text next to child elements/);
    expect(error.pointer).toBe('/name');
  });

  it('refuses an element given twice, with its pointer', () => {
    const error = refused(`<profile ${NS}><name><given>A</given><given>B</given></name></profile>`, /more than once/);
    expect(error.pointer).toBe('/name/given');
  });

  it('refuses nesting deeper than maxDepth (1000 deep, and the limit exactly)', () => {
    const nest = (depth: number) => `<profile ${NS}>${'<a>'.repeat(depth - 1)}${'</a>'.repeat(depth - 1)}</profile>`;
    refused(nest(1000), /nested more than 32 deep/);
    expect(() => fromXml(nest(32), options)).not.toThrow();
    refused(nest(33), /nested more than 32 deep/);
    refused(nest(5), /nested more than 4 deep/, { maxDepth: 4 });
  });

  it('refuses documents larger than maxBytes, counted in UTF-8', () => {
    refused(`<profile ${NS}><name><given>${'a'.repeat(1024 * 1024)}</given></name></profile>`, /larger than 262144 bytes/);
    // 100 000 characters, but 300 000 bytes.
    refused(`<profile ${NS}><name><given>${'€'.repeat(100_000)}</given></name></profile>`, /larger than 262144 bytes/);
    refused(`<profile ${NS}/>`, /larger than 10 bytes/, { maxBytes: 10 });
  });

  it('refuses malformed XML', () => {
    refused(`<profile ${NS}><name></profile>`, /malformed XML/);
    refused(`<profile ${NS}><name>`, /malformed XML/);
    refused(`<profile ${NS}><1a/></profile>`, /malformed XML/);
    refused(`<profile ${NS} a=1/>`, /malformed XML/);
    refused(`<profile ${NS}><b:c:d xmlns:b="${PROFFER_XML_NAMESPACE}"/></profile>`, /not a valid element name/);
    refused('not xml at all', /malformed XML/);
  });

  it('refuses characters XML cannot carry, raw or as references', () => {
    refused(`<profile ${NS}><name><given>a\u0001b</given></name></profile>`, /U\+0001/);
    refused(`<profile ${NS}><name><given>a\uD800b</given></name></profile>`, /U\+D800/);
    refused(`<profile ${NS}><name><given>\uFFFE</given></name></profile>`, /U\+FFFE/);
    refused(`<profile ${NS}><name><given>&#0;</given></name></profile>`, /malformed XML/);
    refused(`<profile ${NS}><name><given>&#x1;</given></name></profile>`, /malformed XML/);
    refused(`<profile ${NS}><name><given>&#xD800;</given></name></profile>`, /malformed XML/);
    refused(`<profile ${NS}><name><given>&#xFFFF;</given></name></profile>`, /malformed XML/);
  });

  it('refuses input that is not text', () => {
    for (const input of [undefined, null, 42, Buffer.from('<profile/>'), {}]) refused(input, /not text/);
  });
});

describe('anything else', () => {
  it('is either read or refused with an XmlInputError: random text', () => {
    const piece = fc.constantFrom('<', '>', '</', '/>', '<profile', `<profile ${NS}>`, '</profile>', '<name>', '</name>', '<item>', '&', '&amp;', '&#', ';', '"', '=', ' type="number"', ' nil="true"', '<!--', '-->', '<![CDATA[', ']]>', '<?', '?>', '<!DOCTYPE', 'x', ' ', '\n', '__proto__');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
        try {
          fromXml(pieces.join(''), options);
        } catch (error) {
          expect(error).toBeInstanceOf(XmlInputError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('is either read or refused with an XmlInputError: valid documents cut and spliced', () => {
    fc.assert(
      fc.property(profile, fc.nat(), fc.nat(), fc.string({ maxLength: 5 }), (document, from, length, insert) => {
        const xml = toXml(document, options);
        const start = from % (xml.length + 1);
        try {
          fromXml(xml.slice(0, start) + insert + xml.slice(start + (length % 20)), options);
        } catch (error) {
          expect(error).toBeInstanceOf(XmlInputError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
