import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { schemaSet, type SchemaSet } from '../xml/index.js';

/**
 * The contract: openapi.yaml and schemas/*.json, loaded once. Everything the server validates,
 * and every operation it binds, comes from here.
 */
const rootDir = fileURLToPath(new URL('../../', import.meta.url));
export const SCHEMA_BASE = 'https://proffer.dev/schemas/';

export type HttpMethod = 'get' | 'put' | 'post' | 'patch' | 'delete';
export type Principal = 'person' | 'vendor';

type Json = Record<string, unknown>;

export interface Operation {
  operationId: string;
  method: HttpMethod;
  /** The path as written in the spec: `/v1/me/needs/{needId}`. */
  path: string;
  /** The same path in fastify's syntax: `/v1/me/needs/:needId`. */
  routePath: string;
  /** Which bearer token the operation needs, if any. */
  principal: Principal | undefined;
  /** The token is welcome but not required (security lists `{}` beside the scheme). */
  principalOptional: boolean;
  /** Media type → schema of the request body, refs rewritten to schema ids. */
  requestBody: { required: boolean; content: Record<string, Json> } | undefined;
  parameters: { name: string; in: 'path' | 'query' | 'header'; required: boolean; schema: Json }[];
  /** Status → media type → schema (refs rewritten), for response checks in tests. */
  responses: Record<string, Record<string, Json | undefined>>;
  /** Media types the 200/201 answer can be produced in, in the spec's order of preference. */
  produces: string[];
}

export interface Contract {
  document: Json;
  /** schemas/*.json by file name. */
  schemas: Record<string, Json>;
  /** The same schemas for the XML mapping, which follows their $refs. */
  xmlSchemas: SchemaSet;
  operations: Operation[];
  byId: Map<string, Operation>;
  /** A fresh Ajv with every schema file registered: types are never coerced. */
  createAjv(options?: { coerceTypes?: boolean; useDefaults?: boolean }): Ajv2020;
  /** The document with schemas/*.json inlined under components, for clients that want one file. */
  bundledYaml(): string;
}

const METHODS: HttpMethod[] = ['get', 'put', 'post', 'patch', 'delete'];

export function loadSchemaFiles(dir = `${rootDir}schemas`): Record<string, Json> {
  const schemas: Record<string, Json> = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const schema = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as Json;
    if (schema.$id !== SCHEMA_BASE + file) throw new Error(`schemas/${file} must have $id ${SCHEMA_BASE + file}`);
    schemas[file] = schema;
  }
  return schemas;
}

export function loadContract(): Contract {
  const document = parseYaml(readFileSync(`${rootDir}openapi.yaml`, 'utf8')) as Json;
  const schemas = loadSchemaFiles();
  const components = (document.components ?? {}) as Json;
  const componentSchemas = (components.schemas ?? {}) as Record<string, Json>;

  /** Deep copy with `./schemas/x.json` refs turned into schema ids and component refs followed. */
  const toValidatable = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(toValidatable);
    if (!node || typeof node !== 'object') return node;
    const out: Json = {};
    for (const [key, value] of Object.entries(node as Json)) {
      if (key === '$ref' && typeof value === 'string') {
        if (value.startsWith('./schemas/')) out.$ref = SCHEMA_BASE + value.slice('./schemas/'.length);
        else if (value.startsWith('#/components/schemas/')) {
          const target = componentSchemas[value.slice('#/components/schemas/'.length)];
          if (!target) throw new Error(`openapi.yaml: unresolved ${value}`);
          Object.assign(out, toValidatable(target));
        } else throw new Error(`openapi.yaml: unsupported $ref ${value}`);
      } else out[key] = toValidatable(value);
    }
    return out;
  };

  const resolveComponent = <T>(node: unknown, kind: string): T => {
    const ref = (node as Json | undefined)?.$ref;
    if (typeof ref !== 'string') return node as T;
    const name = ref.slice(`#/components/${kind}/`.length);
    const target = (components[kind] as Json | undefined)?.[name];
    if (!target) throw new Error(`openapi.yaml: unresolved ${ref}`);
    return target as T;
  };

  const operations: Operation[] = [];
  for (const [path, pathItem] of Object.entries((document.paths ?? {}) as Record<string, Json>)) {
    const sharedParameters = (pathItem.parameters ?? []) as unknown[];
    for (const method of METHODS) {
      const op = pathItem[method] as Json | undefined;
      if (!op) continue;
      const operationId = op.operationId as string;
      const security = (op.security ?? document.security ?? []) as Record<string, unknown>[];
      const schemesUsed = new Set(security.flatMap((requirement) => Object.keys(requirement)));
      const principal: Principal | undefined = schemesUsed.has('person') ? 'person' : schemesUsed.has('vendor') ? 'vendor' : undefined;
      const principalOptional = principal !== undefined && security.some((requirement) => Object.keys(requirement).length === 0);
      const parameters = [...sharedParameters, ...((op.parameters ?? []) as unknown[])].map((p) => {
        const parameter = resolveComponent<Json>(p, 'parameters');
        return {
          name: parameter.name as string,
          in: parameter.in as 'path' | 'query' | 'header',
          required: parameter.required === true,
          schema: toValidatable(parameter.schema) as Json,
        };
      });
      const body = op.requestBody as Json | undefined;
      const requestBody = body
        ? {
            required: body.required === true,
            content: Object.fromEntries(
              Object.entries(body.content as Record<string, Json>).map(([type, media]) => [type, toValidatable(media.schema) as Json]),
            ),
          }
        : undefined;
      const responses: Operation['responses'] = {};
      for (const [status, r] of Object.entries((op.responses ?? {}) as Record<string, unknown>)) {
        const response = resolveComponent<Json>(r, 'responses');
        const content = (response.content ?? {}) as Record<string, Json>;
        responses[status] = Object.fromEntries(
          Object.entries(content).map(([type, media]) => [type, media.schema ? (toValidatable(media.schema) as Json) : undefined]),
        );
      }
      const success = Object.keys(responses).find((s) => /^2\d\d$/.test(s) && Object.keys(responses[s] ?? {}).length > 0);
      operations.push({
        operationId,
        method,
        path,
        routePath: path.replace(/\{([^}]+)\}/g, ':$1'),
        principal,
        principalOptional,
        requestBody,
        parameters,
        responses,
        produces: success ? Object.keys(responses[success] ?? {}) : [],
      });
    }
  }

  const createAjv = (options: { coerceTypes?: boolean; useDefaults?: boolean } = {}) => {
    const ajv = new Ajv2020({
      allErrors: true,
      strict: true,
      allowUnionTypes: true,
      coerceTypes: options.coerceTypes ?? false,
      useDefaults: options.useDefaults ?? false,
      removeAdditional: false,
    });
    addFormats.default(ajv);
    for (const schema of Object.values(schemas)) ajv.addSchema(schema);
    return ajv;
  };

  return {
    document,
    schemas,
    xmlSchemas: schemaSet(Object.fromEntries(Object.values(schemas).map((schema) => [schema.$id as string, schema]))),
    operations,
    byId: new Map(operations.map((o) => [o.operationId, o])),
    createAjv,
    bundledYaml: () => stringifyYaml(bundle(document, schemas), { lineWidth: 0 }),
  };
}

/** Inlines schemas/*.json under components.schemas and points every ref there. */
function bundle(document: Json, schemas: Record<string, Json>): Json {
  const copy = structuredClone(document);
  const components = copy.components as Json;
  const componentSchemas = components.schemas as Record<string, Json>;
  // A file referenced whole by a component lives under that component's name.
  const fileKey: Record<string, string> = {};
  for (const [name, schema] of Object.entries(componentSchemas)) {
    const ref = schema.$ref;
    if (typeof ref === 'string' && /^\.\/schemas\/[^#]+$/.test(ref)) fileKey[ref.slice('./schemas/'.length)] = name;
  }
  for (const file of Object.keys(schemas)) {
    fileKey[file] ??= `${file.replace(/\.json$/, '').replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase())}Definitions`;
  }
  const pointTo = (file: string, fragment: string) => `#/components/schemas/${fileKey[file]}${fragment.replace(/^#/, '')}`;
  const rewrite = (node: unknown, file: string | undefined): unknown => {
    if (Array.isArray(node)) return node.map((n) => rewrite(n, file));
    if (!node || typeof node !== 'object') return node;
    const out: Json = {};
    for (const [key, value] of Object.entries(node as Json)) {
      if (key === '$ref' && typeof value === 'string') {
        const [target = '', fragment = ''] = value.split(/(?=#)/);
        if (value.startsWith('#') && file) out.$ref = pointTo(file, value);
        else if (target.startsWith('./schemas/')) out.$ref = pointTo(target.slice('./schemas/'.length), fragment);
        else if (file && target.endsWith('.json')) out.$ref = pointTo(target, fragment);
        else out.$ref = value;
      } else if (file && (key === '$id' || key === '$schema')) {
        continue;
      } else out[key] = rewrite(value, file);
    }
    return out;
  };
  for (const [file, schema] of Object.entries(schemas)) componentSchemas[fileKey[file] as string] = rewrite(schema, file) as Json;
  for (const [name, schema] of Object.entries(componentSchemas)) {
    if (!Object.values(fileKey).includes(name)) componentSchemas[name] = rewrite(schema, undefined) as Json;
  }
  copy.paths = rewrite(copy.paths, undefined);
  for (const section of ['parameters', 'responses', 'headers', 'requestBodies']) {
    if (components[section]) components[section] = rewrite(components[section], undefined);
  }
  return copy;
}

export type { ValidateFunction };
