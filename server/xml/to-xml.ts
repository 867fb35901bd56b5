import xml2js from 'xml2js';
import { PROFFER_XML_NAMESPACE } from './namespace.js';
import { schemaSet, type SchemaSet } from './schema-set.js';
import {
  allowedKinds,
  defaultKind,
  itemPosition,
  kindOf,
  propertyOrder,
  propertyPosition,
  type Position,
} from './schema-shape.js';
import { findNonXmlCharacter, isNcName, isReservedName } from './xml-chars.js';

export interface ToXmlOptions {
  /** Local name of the root element, e.g. `profile`. */
  readonly root: string;
  /** `$ref` of the schema of the whole document, e.g. `profile.json`. */
  readonly schemaRef: string;
  readonly schemas: SchemaSet | Readonly<Record<string, object>>;
  /** No indentation or line breaks between elements (for fragments inside a feed), else indented. */
  readonly compact?: boolean;
}

// Keys of xml2js's builder input. An XML name cannot start with '#', so no property can clash with them
// (the defaults `$` and `_` would clash with a property named `_`).
const ATTRIBUTES = '#attributes';
const TEXT = '#text';

type BuilderNode = Record<string, unknown>;

const builderOptions = { attrkey: ATTRIBUTES, charkey: TEXT, xmldec: { version: '1.0', encoding: 'UTF-8' } } as const;
const builder = new xml2js.Builder({ ...builderOptions, renderOpts: { pretty: true, indent: '  ', newline: '\n' } });
const compactBuilder = new xml2js.Builder({ ...builderOptions, renderOpts: { pretty: false } });

/** Writes a JSON value as a Proffer XML document. Throws an Error for values XML cannot carry. */
export function toXml(value: unknown, options: ToXmlOptions): string {
  const schemas = schemaSet(options.schemas);
  checkName(options.root, 'root element');
  const bad = findNonXmlCharacter(value);
  if (bad !== null) throw new Error(`cannot write XML: ${bad || 'the value'} holds a character XML 1.0 cannot carry`);
  const content = toNode(schemas, value, [schemas.resolve(options.schemaRef)], '');
  const root: BuilderNode = Object.create(null);
  root[ATTRIBUTES] = { xmlns: PROFFER_XML_NAMESPACE, ...(content[ATTRIBUTES] as object | undefined) };
  for (const key of Object.keys(content)) if (key !== ATTRIBUTES) root[key] = content[key];
  // One key and xml2js's default rootName: the key names the root element.
  return (options.compact ? compactBuilder : builder).buildObject({ [options.root]: root });
}

function toNode(schemas: SchemaSet, value: unknown, position: Position, pointer: string): BuilderNode {
  const kind = kindOf(value);
  if (kind === undefined) throw new Error(`cannot write XML: ${pointer || 'the value'} is not a JSON value`);
  const node: BuilderNode = Object.create(null);
  if (kind === 'null') {
    node[ATTRIBUTES] = { nil: 'true' };
    return node;
  }

  const children: BuilderNode = Object.create(null);
  let text = '';
  if (kind === 'object') {
    const object = value as Record<string, unknown>;
    const keys = new Set([...propertyOrder(schemas, position).filter((key) => Object.hasOwn(object, key)), ...Object.keys(object)]);
    for (const key of keys) {
      if (object[key] === undefined) continue;
      checkName(key, `property at ${pointer || 'the root'}`);
      children[key] = toNode(schemas, object[key], propertyPosition(schemas, position, key), `${pointer}/${key}`);
    }
  } else if (kind === 'array') {
    const items = (value as unknown[]).map((item, index) =>
      toNode(schemas, item, itemPosition(schemas, position, index), `${pointer}/${index}`),
    );
    if (items.length > 0) children.item = items;
  } else {
    text = String(value);
  }

  const hasChildren = Object.keys(children).length > 0;
  if (defaultKind(allowedKinds(schemas, position), hasChildren, text) !== kind) node[ATTRIBUTES] = { type: kind };
  if (text !== '') node[TEXT] = text;
  return Object.assign(node, children);
}

function checkName(name: string, what: string): void {
  if (!isNcName(name) || isReservedName(name)) throw new Error(`cannot write XML: "${name}" is not usable as ${what} name`);
}
