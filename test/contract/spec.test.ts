import { Ajv, type AnySchema } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import sax from 'sax';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadContract, type Operation } from '../../server/http/contract.js';
import { xmlRootFor } from '../../server/http/representations.js';
import { fromXml } from '../../server/xml/index.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Json = Record<string, unknown>;
const contract = loadContract();
const document = contract.document as Json;
const ajv = contract.createAjv();

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

describe('routes and openapi.yaml agree', () => {
  it('every operation has a route', () => {
    const routes = new Set(server.app.registeredRoutes.map((r) => `${r.method} ${r.url}`));
    const missing = contract.operations.filter((op) => !routes.has(`${op.method.toUpperCase()} ${op.routePath}`));
    expect(missing.map((op) => op.operationId)).toEqual([]);
  });

  it('every route is an operation (HEAD mirrors GET; /docs assets belong to the reference page)', () => {
    const operations = new Set(contract.operations.map((op) => `${op.method.toUpperCase()} ${op.routePath}`));
    const extra = server.app.registeredRoutes
      .filter((r) => r.method !== 'HEAD' && !r.url.startsWith('/docs/'))
      .map((r) => `${r.method} ${r.url}`)
      .filter((route) => !operations.has(route));
    expect(extra).toEqual([]);
  });

  it('every path and query parameter has a schema, and every path parameter is required', () => {
    for (const op of contract.operations) {
      for (const parameter of op.parameters) {
        expect(parameter.schema, `${op.operationId} ${parameter.name}`).toBeTypeOf('object');
        if (parameter.in === 'path') expect(parameter.required, `${op.operationId} ${parameter.name}`).toBe(true);
      }
      const pathParams = [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const name of pathParams) expect(op.parameters.some((p) => p.in === 'path' && p.name === name), `${op.operationId} {${name}}`).toBe(true);
    }
  });

  it('every operation id is unique and every operation declares its errors as problem+json', () => {
    expect(new Set(contract.operations.map((op) => op.operationId)).size).toBe(contract.operations.length);
    for (const op of contract.operations) {
      for (const [status, content] of Object.entries(op.responses)) {
        if (Number(status) >= 400) expect(Object.keys(content), `${op.operationId} ${status}`).toEqual(['application/problem+json']);
      }
      if (op.principal) {
        expect(op.responses['401'], `${op.operationId} 401`).toBeDefined();
        expect(op.responses['403'], `${op.operationId} 403`).toBeDefined();
      }
    }
  });
});

/** The examples a media type offers: its own `example`/`examples`, else its schema's `examples`. */
function examplesOf(media: Json): unknown[] {
  if ('example' in media) return [media.example];
  if (media.examples) return Object.values(media.examples as Record<string, { value: unknown }>).map((e) => e.value);
  const schema = media.schema as Json | undefined;
  const ref = schema?.$ref as string | undefined;
  const resolved = ref ? ((resolveRef(ref) ?? {}) as Json) : schema;
  return (resolved?.examples as unknown[] | undefined) ?? [];
}

function resolveRef(ref: string): unknown {
  const [path = '', pointer = ''] = ref.split('#');
  let node: unknown = path.startsWith('./schemas/') ? contract.schemas[path.slice('./schemas/'.length)] : document;
  for (const segment of pointer.split('/').filter(Boolean)) node = (node as Json)[segment.replaceAll('~1', '/').replaceAll('~0', '~')];
  const nested = (node as Json | undefined)?.$ref;
  return typeof nested === 'string' && !nested.startsWith('#/$defs') ? resolveRef(nested) : node;
}

function wellFormedXml(text: string): void {
  const parser = sax.parser(true);
  parser.onerror = (error) => {
    throw error;
  };
  parser.write(text).close();
}

function checkExample(op: Operation, where: string, mediaType: string, schema: Json | undefined, example: unknown): void {
  const label = `${op.operationId} ${where} ${mediaType}`;
  if (mediaType.endsWith('json') || mediaType === 'application/x-www-form-urlencoded') {
    const validate = ajv.compile(schema as AnySchema);
    expect(validate(example), `${label}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  } else if (mediaType === 'application/xml') {
    expect(example, label).toBeTypeOf('string');
    const schemaRef = schema?.$ref as string;
    const value = fromXml(example as string, { root: xmlRootFor(schemaRef), schemaRef, schemas: contract.xmlSchemas });
    const validate = ajv.compile(schema as AnySchema);
    expect(validate(value), `${label}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  } else if (mediaType.endsWith('+xml')) {
    wellFormedXml(example as string);
  } else if (mediaType === 'application/yaml') {
    expect(() => parseYaml(example as string), label).not.toThrow();
  } else {
    expect(example, label).toBeTypeOf('string');
  }
}

describe('every request and response has an example that validates', () => {
  const paths = document.paths as Record<string, Record<string, Json>>;
  for (const op of contract.operations) {
    it(op.operationId, () => {
      const raw = paths[op.path]?.[op.method] as Json;
      const body = raw.requestBody as { content: Record<string, Json> } | undefined;
      for (const [mediaType, media] of Object.entries(body?.content ?? {})) {
        const examples = examplesOf(media);
        expect(examples.length, `${op.operationId} request ${mediaType} has no example`).toBeGreaterThan(0);
        for (const example of examples) checkExample(op, 'request', mediaType, op.requestBody?.content[mediaType], example);
      }
      for (const [status, r] of Object.entries(raw.responses as Record<string, Json>)) {
        const response = (typeof r.$ref === 'string' ? resolveRef(r.$ref) : r) as Json;
        for (const [mediaType, media] of Object.entries((response.content ?? {}) as Record<string, Json>)) {
          const examples = examplesOf(media);
          expect(examples.length, `${op.operationId} ${status} ${mediaType} has no example`).toBeGreaterThan(0);
          for (const example of examples) checkExample(op, status, mediaType, op.responses[status]?.[mediaType], example);
        }
      }
    });
  }
});

describe('schemas', () => {
  it('compile under JSON Schema 2020-12 and draft-07 alike (the subset both speak)', () => {
    const draft07 = new Ajv({ strict: true, allowUnionTypes: true });
    addFormats.default(draft07);
    const modern = new Ajv2020({ strict: true, allowUnionTypes: true });
    addFormats.default(modern);
    for (const schema of Object.values(contract.schemas)) {
      const { $schema: _ignored, ...rest } = schema;
      draft07.addSchema(rest as AnySchema);
      modern.addSchema(schema as AnySchema);
    }
    for (const schema of Object.values(contract.schemas)) {
      expect(draft07.getSchema(schema.$id as string), `${schema.$id} (draft-07)`).toBeTypeOf('function');
      expect(modern.getSchema(schema.$id as string), `${schema.$id} (2020-12)`).toBeTypeOf('function');
    }
  });

  it('the examples inside schema files validate against their schema', () => {
    for (const [file, schema] of Object.entries(contract.schemas)) {
      const check = (node: Json, pointer: string) => {
        for (const example of (node.examples as unknown[] | undefined) ?? []) {
          const validate = ajv.getSchema(`${schema.$id}${pointer ? `#${pointer}` : ''}`);
          expect(validate?.(example), `${file}${pointer}: ${ajv.errorsText(validate?.errors)}`).toBe(true);
        }
      };
      check(schema, '');
      for (const [name, def] of Object.entries((schema.$defs ?? {}) as Record<string, Json>)) check(def, `/$defs/${name}`);
    }
  });
});

describe('GET /openapi.yaml', () => {
  it('serves one self-contained document: no external refs, every internal ref resolves', async () => {
    const response = await server.request({ method: 'GET', url: '/openapi.yaml' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/yaml/);
    const bundled = parseYaml(response.body) as Json;
    expect(bundled.openapi).toBe('3.1.0');
    const refs: string[] = [];
    const collect = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(collect);
      else if (node && typeof node === 'object') {
        for (const [key, value] of Object.entries(node)) {
          if (key === '$ref' && typeof value === 'string') refs.push(value);
          else collect(value);
        }
      }
    };
    collect(bundled);
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of refs) {
      expect(ref.startsWith('#/'), ref).toBe(true);
      let node: unknown = bundled;
      for (const segment of ref.slice(2).split('/')) node = (node as Json | undefined)?.[segment.replaceAll('~1', '/').replaceAll('~0', '~')];
      expect(node, `${ref} resolves`).toBeTypeOf('object');
    }
  });

  it('is what /docs renders', async () => {
    const page = await server.request({ method: 'GET', url: '/docs' });
    expect([200, 302]).toContain(page.statusCode);
    const json = await server.request({ method: 'GET', url: '/docs/json' });
    expect(json.statusCode).toBe(200);
    expect(json.json().info.title).toBe('Proffer API');
  });
});
