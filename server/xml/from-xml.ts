import { parseXml, type XmlElement } from './parse-xml.js';
import { schemaSet, type SchemaSet } from './schema-set.js';
import {
  allowedKinds,
  defaultKind,
  itemPosition,
  parseScalar,
  propertyPosition,
  type Kind,
  type Position,
} from './schema-shape.js';
import { isXmlBlank, pointerToken } from './xml-chars.js';
import { XmlInputError } from './xml-input-error.js';

export const DEFAULT_MAX_BYTES = 256 * 1024;
export const DEFAULT_MAX_DEPTH = 32;

export interface FromXmlOptions {
  /** Local name of the root element, e.g. `profile`. */
  readonly root: string;
  /** `$ref` of the schema of the whole document, e.g. `need.json#/$defs/needInput`. */
  readonly schemaRef: string;
  readonly schemas: SchemaSet | Readonly<Record<string, object>>;
  /** Largest accepted document in UTF-8 bytes (default 256 KiB). */
  readonly maxBytes?: number;
  /** Deepest accepted element nesting, the root counting as 1 (default 32). */
  readonly maxDepth?: number;
}

const TYPE_VALUES: readonly string[] = ['string', 'number', 'boolean', 'object', 'array'];

/**
 * Reads a Proffer XML document into the JSON value it stands for. The schema only tells which
 * JSON type an element is; the result is not validated and must be checked against the schema.
 */
export function fromXml(text: string, options: FromXmlOptions): unknown {
  const schemas = schemaSet(options.schemas);
  const position = [schemas.resolve(options.schemaRef)];
  const root = parseXml(text, options.root, {
    maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
    maxDepth: options.maxDepth ?? DEFAULT_MAX_DEPTH,
  });
  return readElement(schemas, root, position, '');
}

function readElement(schemas: SchemaSet, element: XmlElement, position: Position, pointer: string): unknown {
  const { children, text, type, nil } = element;
  const hasChildren = children.length > 0;
  if (nil !== undefined && nil !== 'true' && nil !== 'false') {
    throw new XmlInputError('nil must be "true" or "false"', pointer);
  }
  if (nil === 'true') {
    if (type !== undefined || hasChildren || !isXmlBlank(text)) {
      throw new XmlInputError('an element with nil="true" must be empty and have no type', pointer);
    }
    return null;
  }
  if (hasChildren && !isXmlBlank(text)) throw new XmlInputError('text next to child elements is not allowed', pointer);
  if (type !== undefined && !TYPE_VALUES.includes(type)) {
    throw new XmlInputError(`type="${type}" is not one of ${TYPE_VALUES.join(', ')}`, pointer);
  }

  const kind = (type as Kind | undefined) ?? defaultKind(allowedKinds(schemas, position), hasChildren, text);
  switch (kind) {
    case 'number':
    case 'boolean': {
      const value = hasChildren ? undefined : parseScalar(kind, text);
      if (value === undefined) throw new XmlInputError(`type="${kind}" but the content is not a ${kind}`, pointer);
      return value;
    }
    case 'object':
    case 'array': {
      if (!isXmlBlank(text)) throw new XmlInputError(`type="${kind}" but the element holds text`, pointer);
      const isList = children.every((child) => child.name === 'item');
      if (kind === 'array' && !isList && type !== undefined) {
        throw new XmlInputError('type="array" but not every child element is <item>', pointer);
      }
      // An array the schema expects but whose children are not all <item> is read as an object, for validation to report.
      return kind === 'array' && isList
        ? children.map((child, index) =>
            readElement(schemas, child, itemPosition(schemas, position, index), `${pointer}/${index}`),
          )
        : readObject(schemas, children, position, pointer);
    }
    default:
      if (hasChildren) throw new XmlInputError(`type="${kind}" but the element has child elements`, pointer);
      return text;
  }
}

function readObject(schemas: SchemaSet, children: readonly XmlElement[], position: Position, pointer: string): object {
  const object: Record<string, unknown> = {};
  for (const child of children) {
    const childPointer = `${pointer}/${pointerToken(child.name)}`;
    if (Object.hasOwn(object, child.name)) throw new XmlInputError(`<${child.name}> appears more than once`, childPointer);
    // Names reaching Object.prototype were refused while parsing; defineProperty never calls a setter anyway.
    Object.defineProperty(object, child.name, {
      value: readElement(schemas, child, propertyPosition(schemas, position, child.name), childPointer),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return object;
}
