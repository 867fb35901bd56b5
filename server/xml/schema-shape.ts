import { isRecord, type ResolvedSchema, type SchemaSet } from './schema-set.js';
import { isXmlBlank, trimXml } from './xml-chars.js';

/** The JSON types as XML needs to tell them apart (`integer` is a `number`). */
export type Kind = 'string' | 'number' | 'boolean' | 'null' | 'object' | 'array';

/** The schemas a value at one place in a document may match (any one of them); empty when nothing is known. */
export type Position = readonly ResolvedSchema[];

const ALL_KINDS: readonly Kind[] = ['string', 'number', 'boolean', 'null', 'object', 'array'];
const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

export function kindOf(value: unknown): Kind | undefined {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'number':
      return Number.isFinite(value) ? 'number' : undefined;
    case 'object': {
      const prototype: unknown = Object.getPrototypeOf(value);
      return prototype === Object.prototype || prototype === null ? 'object' : undefined;
    }
    default:
      return undefined;
  }
}

/** The kinds the schemas at `position` allow; all of them when the schemas do not say (or allow none). */
export function allowedKinds(schemas: SchemaSet, position: Position): ReadonlySet<Kind> {
  const kinds = new Set<Kind>();
  for (const at of position) for (const kind of kindsOf(schemas, at, 0)) kinds.add(kind);
  return kinds.size === 0 ? new Set(ALL_KINDS) : kinds;
}

function kindsOf(schemas: SchemaSet, at: ResolvedSchema, depth: number): Set<Kind> {
  const { schema } = at;
  if (schema === false) return new Set();
  let kinds = new Set(ALL_KINDS);
  if (!isRecord(schema) || depth > 32) return kinds;
  const keep = (allowed: Iterable<Kind | undefined>): void => {
    const set = new Set(allowed);
    kinds = new Set([...kinds].filter((kind) => set.has(kind)));
  };
  const sub = (value: unknown): Set<Kind> => kindsOf(schemas, { schema: value, base: at.base }, depth + 1);

  if (typeof schema.type === 'string' || Array.isArray(schema.type)) {
    keep([schema.type].flat().map((type) => (type === 'integer' ? 'number' : (type as Kind))));
  }
  if (Object.hasOwn(schema, 'const')) keep([kindOf(schema.const)]);
  if (Array.isArray(schema.enum)) keep(schema.enum.map(kindOf));
  if (typeof schema.$ref === 'string') keep(kindsOf(schemas, schemas.resolve(schema.$ref, at.base), depth + 1));
  if (Array.isArray(schema.allOf)) for (const branch of schema.allOf) keep(sub(branch));
  for (const key of ['anyOf', 'oneOf']) {
    const branches = schema[key];
    if (Array.isArray(branches)) keep(branches.flatMap((branch) => [...sub(branch)]));
  }
  return kinds;
}

/** `at` and every schema it pulls in through `$ref`, `allOf`, `anyOf` and `oneOf`. */
function expand(schemas: SchemaSet, at: ResolvedSchema, into: ResolvedSchema[] = [], seen = new Set<unknown>()): ResolvedSchema[] {
  const { schema, base } = at;
  if (!isRecord(schema) || seen.has(schema)) return into;
  seen.add(schema);
  into.push(at);
  if (typeof schema.$ref === 'string') expand(schemas, schemas.resolve(schema.$ref, base), into, seen);
  for (const key of ['allOf', 'anyOf', 'oneOf']) {
    const branches = schema[key];
    if (Array.isArray(branches)) for (const branch of branches) expand(schemas, { schema: branch, base }, into, seen);
  }
  return into;
}

/** Where the value of property `name` of an object at `position` stands. */
export function propertyPosition(schemas: SchemaSet, position: Position, name: string): Position {
  const found: ResolvedSchema[] = [];
  let constrained = false;
  for (const at of position.flatMap((entry) => expand(schemas, entry))) {
    const { properties, patternProperties, additionalProperties } = at.schema as Record<string, unknown>;
    if (properties === undefined && patternProperties === undefined && additionalProperties === undefined) continue;
    constrained = true;
    if (isRecord(properties) && Object.hasOwn(properties, name)) {
      found.push({ schema: properties[name], base: at.base });
      continue;
    }
    const matching = isRecord(patternProperties)
      ? Object.entries(patternProperties).filter(([pattern]) => new RegExp(pattern, 'u').test(name))
      : [];
    for (const [, schema] of matching) found.push({ schema, base: at.base });
    if (matching.length > 0) continue;
    if (additionalProperties === undefined) return [];
    found.push({ schema: additionalProperties, base: at.base });
  }
  return constrained ? found : [];
}

/** Where element `index` of an array at `position` stands. */
export function itemPosition(schemas: SchemaSet, position: Position, index: number): Position {
  const found: ResolvedSchema[] = [];
  let constrained = false;
  for (const at of position.flatMap((entry) => expand(schemas, entry))) {
    const { prefixItems, items } = at.schema as Record<string, unknown>;
    if (prefixItems === undefined && items === undefined) continue;
    constrained = true;
    if (Array.isArray(prefixItems) && index < prefixItems.length) found.push({ schema: prefixItems[index], base: at.base });
    else if (items !== undefined) found.push({ schema: items, base: at.base });
    else return [];
  }
  return constrained ? found : [];
}

/** The property names the schemas at `position` list, in their order. */
export function propertyOrder(schemas: SchemaSet, position: Position): string[] {
  const names = new Set<string>();
  for (const at of position.flatMap((entry) => expand(schemas, entry))) {
    const { properties } = at.schema as Record<string, unknown>;
    if (isRecord(properties)) for (const name of Object.keys(properties)) names.add(name);
  }
  return [...names];
}

/**
 * How the reader takes an element that has no `type` attribute. The writer adds `type` exactly
 * when this would give something other than the value written.
 */
export function defaultKind(allowed: ReadonlySet<Kind>, hasChildren: boolean, text: string): Kind {
  if (hasChildren) return allowed.has('array') && !allowed.has('object') ? 'array' : 'object';
  if (allowed.has('string')) return 'string';
  if (isXmlBlank(text) && allowed.has('object')) return 'object';
  if (isXmlBlank(text) && allowed.has('array')) return 'array';
  if (allowed.has('number') && parseScalar('number', text) !== undefined) return 'number';
  if (allowed.has('boolean') && parseScalar('boolean', text) !== undefined) return 'boolean';
  // Not what the schema wants: kept as text so that schema validation reports it.
  return 'string';
}

/** A number in JSON syntax or `true`/`false`, surrounding whitespace allowed; undefined otherwise. */
export function parseScalar(kind: 'number' | 'boolean', text: string): number | boolean | undefined {
  const trimmed = trimXml(text);
  if (kind === 'boolean') return trimmed === 'true' ? true : trimmed === 'false' ? false : undefined;
  if (!JSON_NUMBER.test(trimmed)) return undefined;
  const number = Number(trimmed);
  return Number.isFinite(number) ? number : undefined;
}
