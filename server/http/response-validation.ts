import type { ValidateFunction } from 'ajv';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { fromXml } from '../xml/index.js';
import { xmlRootFor } from './representations.js';

/**
 * Test-time contract check: every response must be declared in openapi.yaml for its status and
 * media type and match its schema. A mismatch turns the response into a 500, so the test that
 * provoked it fails. 5xx answers are exempt (any operation may meet an outage).
 */
export function registerResponseValidation(app: FastifyInstance, ctx: AppContext): void {
  const ajv = ctx.contract.createAjv();
  const compiled = new Map<object, ValidateFunction>();
  const validatorFor = (schema: object) => {
    let validate = compiled.get(schema);
    if (!validate) compiled.set(schema, (validate = ajv.compile(schema)));
    return validate;
  };

  app.addHook('onSend', async (request, reply, payload) => {
    const operationId = request.routeOptions.config.operationId;
    if (!operationId || reply.statusCode >= 500) return payload;
    const op = ctx.contract.byId.get(operationId);
    if (!op) return payload;
    const status = String(reply.statusCode);
    const declared = op.responses[status];
    const fail = (message: string) => {
      request.log.error({ operationId, status, message }, 'response does not match openapi.yaml');
      throw new Error(`response of ${operationId} (${status}) does not match openapi.yaml: ${message}`);
    };
    if (!declared) fail('status not declared');
    const mediaType = String(reply.getHeader('content-type') ?? '').split(';')[0] ?? '';
    if (!declared || Object.keys(declared).length === 0) {
      if (mediaType && payload) fail(`a body (${mediaType}) where none is declared`);
      return payload;
    }
    if (!(mediaType in declared)) fail(`media type ${mediaType || '(none)'} not declared`);
    const schema = declared[mediaType];
    if (!schema || typeof payload !== 'string') return payload;
    let value: unknown;
    if (mediaType.endsWith('json')) value = JSON.parse(payload);
    else if (mediaType === 'application/xml') {
      const schemaRef = schema.$ref as string;
      value = fromXml(payload, { root: xmlRootFor(schemaRef), schemaRef, schemas: ctx.contract.xmlSchemas, maxBytes: 64 * 1024 * 1024 });
    } else return payload;
    const validate = validatorFor(schema);
    if (!validate(value)) fail(ajv.errorsText(validate.errors));
    return payload;
  });
}
