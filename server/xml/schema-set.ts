import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A schema found by `$ref`, with the `$id` of its file for resolving the `$ref`s inside it. */
export interface ResolvedSchema {
  readonly schema: unknown;
  readonly base: string;
}

export interface SchemaSet {
  /** Schema files keyed by `$id`. */
  readonly byId: ReadonlyMap<string, object>;
  /**
   * Follows a `$ref` (`other.json`, `#/$defs/x`, `other.json#/$defs/x`, an absolute URI) from `base`.
   * Without `base`, a relative ref is taken relative to the loaded files (`need.json#/$defs/needInput`).
   */
  resolve(ref: string, base?: string): ResolvedSchema;
}

const DEFAULT_DIR = fileURLToPath(new URL('../../schemas/', import.meta.url));

/** Reads every `*.json` schema in `dir` (default: the repository's `schemas/`). */
export function loadSchemas(dir: string = DEFAULT_DIR): SchemaSet {
  const byId = new Map<string, object>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.json')).sort()) {
    const schema: unknown = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    if (!isRecord(schema) || typeof schema.$id !== 'string') throw new Error(`schema ${file} has no $id`);
    byId.set(schema.$id, schema);
  }
  return fromMap(byId);
}

/** A SchemaSet as is, or one built from schemas keyed by `$id`. */
export function schemaSet(schemas: SchemaSet | Readonly<Record<string, object>>): SchemaSet {
  if (isSchemaSet(schemas)) return schemas;
  return fromMap(new Map(Object.entries(schemas)));
}

function fromMap(byId: ReadonlyMap<string, object>): SchemaSet {
  const locate = (ref: string, base: string | undefined): URL => {
    if (base !== undefined) return new URL(ref, base);
    if (URL.canParse(ref)) return new URL(ref);
    for (const id of byId.keys()) {
      const url = new URL(ref, id);
      if (byId.has(withoutFragment(url))) return url;
    }
    throw new Error(`no schema file for $ref ${ref}`);
  };

  return {
    byId,
    resolve(ref, base) {
      const url = locate(ref, base);
      const id = withoutFragment(url);
      const document = byId.get(id);
      if (document === undefined) throw new Error(`no schema with $id ${id} (for $ref ${ref})`);
      const pointer = decodeURIComponent(url.hash.slice(1));
      if (pointer !== '' && !pointer.startsWith('/')) throw new Error(`unsupported $ref fragment in ${ref}`);
      let schema: unknown = document;
      for (const raw of pointer === '' ? [] : pointer.slice(1).split('/')) {
        const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
        if (!isRecord(schema) || !Object.hasOwn(schema, token)) throw new Error(`$ref ${ref} points at nothing`);
        schema = schema[token];
      }
      return { schema, base: id };
    },
  };
}

function withoutFragment(url: URL): string {
  const copy = new URL(url);
  copy.hash = '';
  return copy.href;
}

function isSchemaSet(value: object): value is SchemaSet {
  const candidate = value as Partial<SchemaSet>;
  return typeof candidate.resolve === 'function' && candidate.byId instanceof Map;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
