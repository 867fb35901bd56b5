import sax from 'sax';
import { PROFFER_XML_NAMESPACE } from './namespace.js';
import { describeCodePoint, firstNonXmlCharacter, isNcName, isReservedName, isXmlBlank } from './xml-chars.js';
import { XmlInputError } from './xml-input-error.js';

/** An element as read: its local name, the two attributes Proffer uses, all its text, its child elements. */
export interface XmlElement {
  readonly name: string;
  type?: string;
  nil?: string;
  text: string;
  readonly children: XmlElement[];
}

export interface ParseLimits {
  readonly maxBytes: number;
  readonly maxDepth: number;
}

const XML_DECLARATION =
  /^version\s*=\s*(["'])1\.0\1(?:\s+encoding\s*=\s*(["'])[Uu][Tt][Ff]-?8\2)?(?:\s+standalone\s*=\s*(["'])(?:yes|no)\3)?\s*$/;

// `strictEntities` is missing from @types/sax; without it sax accepts HTML entities such as &nbsp;.
const SAX_OPTIONS = { xmlns: true, strictEntities: true, position: true } as sax.SAXOptions;

/**
 * Parses one Proffer document with sax in strict mode, refusing everything Proffer does not
 * need: DTDs (so no entity expansion of any kind), processing instructions, foreign namespaces,
 * unknown attributes, names that would reach Object.prototype, excessive size or depth.
 */
export function parseXml(input: unknown, root: string, limits: ParseLimits): XmlElement {
  if (typeof input !== 'string') throw new XmlInputError('the XML document is not text');
  if (input.length > limits.maxBytes || Buffer.byteLength(input, 'utf8') > limits.maxBytes) {
    throw new XmlInputError(`the XML document is larger than ${limits.maxBytes} bytes`);
  }
  // XML 1.0 §2.11: a literal CR (alone or before LF) is read as LF; sax does not do it. `&#xD;` still gives CR.
  const text = input.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  const bad = firstNonXmlCharacter(text);
  if (bad !== undefined) throw new XmlInputError(`the character ${describeCodePoint(bad)} is not allowed in XML`);

  const parser = sax.parser(true, { ...SAX_OPTIONS }); // sax writes into its options object
  const stack: XmlElement[] = [];
  let attributes: sax.QualifiedAttribute[] = [];
  let document: XmlElement | undefined;
  let documentUri = '';
  let started = false;

  parser.onerror = (error) => {
    const message = error.message.split('\n')[0] ?? 'unknown error';
    throw new XmlInputError(`malformed XML: ${message} (line ${parser.line + 1}, column ${parser.column + 1})`);
  };
  parser.ondoctype = () => {
    throw new XmlInputError('DOCTYPE declarations are not allowed');
  };
  parser.onsgmldeclaration = () => {
    throw new XmlInputError('<!...> declarations are not allowed');
  };
  parser.onprocessinginstruction = ({ name, body }) => {
    if (name !== 'xml' || started || !text.startsWith('<?xml')) {
      throw new XmlInputError(`processing instructions are not allowed (<?${name}?>)`);
    }
    if (!XML_DECLARATION.test(body)) {
      throw new XmlInputError('the XML declaration must be version 1.0, UTF-8');
    }
    started = true;
  };
  parser.oncomment = () => {
    started = true;
  };
  parser.onattribute = (attribute) => {
    attributes.push(attribute as sax.QualifiedAttribute);
  };
  parser.onopentag = (node) => {
    started = true;
    const tag = node as sax.QualifiedTag;
    if (!isNcName(tag.local) || tag.name !== (tag.prefix === '' ? tag.local : `${tag.prefix}:${tag.local}`)) {
      throw new XmlInputError(`<${tag.name}> is not a valid element name`);
    }
    if (isReservedName(tag.local)) throw new XmlInputError(`the element name <${tag.name}> is not allowed`);
    if (stack.length >= limits.maxDepth) {
      throw new XmlInputError(`elements are nested more than ${limits.maxDepth} deep`);
    }
    if (stack.length === 0) {
      if (document !== undefined) throw new XmlInputError('only one root element is allowed');
      if (tag.local !== root) throw new XmlInputError(`the root element must be <${root}>, not <${tag.name}>`);
      if (tag.uri !== PROFFER_XML_NAMESPACE && tag.uri !== '') {
        throw new XmlInputError(`the root element must be in the namespace ${PROFFER_XML_NAMESPACE}, not "${tag.uri}"`);
      }
      documentUri = tag.uri;
    } else if (tag.uri !== documentUri) {
      throw new XmlInputError(`<${tag.name}> is in the namespace "${tag.uri}", not the document's "${documentUri}"`);
    }
    const element: XmlElement = { name: tag.local, text: '', children: [] };
    readAttributes(element, tag.name, attributes);
    attributes = [];
    stack.at(-1)?.children.push(element);
    stack.push(element);
  };
  parser.onclosetag = () => {
    const element = stack.pop();
    if (stack.length === 0) document = element;
  };
  parser.ontext = parser.oncdata = (chunk) => {
    started = true;
    const parent = stack.at(-1);
    if (parent !== undefined) parent.text += chunk;
    else if (!isXmlBlank(chunk)) throw new XmlInputError('text is not allowed outside the root element');
  };

  try {
    parser.write(text).close();
  } catch (error) {
    if (error instanceof XmlInputError) throw error;
    throw new XmlInputError(`malformed XML: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
  }
  if (document === undefined) throw new XmlInputError(`the document has no <${root}> element`);
  return document;
}

function readAttributes(element: XmlElement, tagName: string, attributes: readonly sax.QualifiedAttribute[]): void {
  const seen = new Set<string>();
  for (const { name, prefix, local, value } of attributes) {
    if (seen.has(name)) throw new XmlInputError(`<${tagName}> has the attribute ${name} twice`);
    seen.add(name);
    if (isReservedName(name) || isReservedName(local)) throw new XmlInputError(`the attribute name ${name} is not allowed`);
    if (name === 'xmlns' || prefix === 'xmlns') continue;
    if (name === 'type') element.type = value;
    else if (name === 'nil') element.nil = value;
    else throw new XmlInputError(`<${tagName}> has the attribute ${name}; only type, nil and xmlns are allowed`);
  }
}
