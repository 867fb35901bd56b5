import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { AppContext } from '../context.js';
import { ProblemError } from '../errors.js';
import type { operations } from '../generated/openapi.js';
import { findNonXmlCharacter, fromXml } from '../xml/index.js';
import { authenticate, verifyAccessToken, type AuthenticateOptions } from './auth.js';
import type { Operation } from './contract.js';
import { isJsonMediaType, isXmlMediaType, requestMediaType } from './negotiate.js';
import { xmlRootFor } from './representations.js';

export type OperationId = keyof operations;

declare module 'fastify' {
  interface FastifyContextConfig {
    operationId?: string;
  }
}
export type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
export type Handlers = Partial<Record<OperationId, Handler>>;

/** Per-operation additions to the route the spec defines. */
export interface OperationExtras extends Pick<RouteOptions, 'config'> {
  /** The handler checks the token's session in its own query (see `AuthenticateOptions`). */
  sessionCheckedByHandler?: boolean;
  /** Headers every answer of the operation carries, problems included (set before anything runs). */
  responseHeaders?: Record<string, string>;
}

/** Operations answered by a plugin rather than a handler of ours. */
const SERVED_BY_PLUGINS = new Set<string>(['getDocs']);

/**
 * Binds every operation of openapi.yaml to its handler: the route, its schemas and its
 * authentication all come from the spec, so a route cannot exist without an operation and an
 * operation cannot exist without a route (both fail at start).
 */
export function bindOperations(
  app: FastifyInstance,
  ctx: AppContext,
  handlers: Handlers,
  extras: Partial<Record<OperationId, OperationExtras>> = {},
): void {
  const bound = new Set<string>();
  for (const op of ctx.contract.operations) {
    if (SERVED_BY_PLUGINS.has(op.operationId)) continue;
    const handler = handlers[op.operationId as OperationId];
    if (!handler) throw new Error(`openapi.yaml operation ${op.operationId} has no handler`);
    bound.add(op.operationId);
    const extra = extras[op.operationId as OperationId];
    const route = routeFor(app, ctx, op, handler, { sessionCheckedByHandler: extra?.sessionCheckedByHandler === true }, extra?.responseHeaders);
    app.route(extra?.config ? { ...route, config: { ...route.config, ...extra.config } } : route);
  }
  const unknown = Object.keys(handlers).filter((id) => !bound.has(id));
  if (unknown.length) throw new Error(`handlers without an operation in openapi.yaml: ${unknown.join(', ')}`);
}

function parameterSchema(op: Operation, location: 'path' | 'query' | 'header') {
  const parameters = op.parameters.filter((p) => p.in === location);
  // Header names arrive lower-cased; other headers are none of our business, unknown query
  // parameters are refused like unknown body properties.
  const name = (p: { name: string }) => (location === 'header' ? p.name.toLowerCase() : p.name);
  return {
    type: 'object',
    properties: Object.fromEntries(parameters.map((p) => [name(p), p.schema])),
    required: parameters.filter((p) => p.required).map(name),
    additionalProperties: location === 'header',
  };
}

function routeFor(
  app: FastifyInstance,
  ctx: AppContext,
  op: Operation,
  handler: Handler,
  authOptions: AuthenticateOptions,
  responseHeaders: Record<string, string> | undefined,
): RouteOptions {
  const body = op.requestBody;
  const acceptedTypes = body ? Object.keys(body.content) : [];
  const schema: Record<string, unknown> = {
    params: parameterSchema(op, 'path'),
    querystring: parameterSchema(op, 'query'),
    headers: parameterSchema(op, 'header'),
  };
  if (body) {
    const content: Record<string, { schema: unknown }> = Object.fromEntries(
      Object.entries(body.content).map(([type, s]) => [type, { schema: s }]),
    );
    // Fastify picks the body schema by the media type it parsed (rewriting the header later does
    // not change it), and a type without a schema is not validated at all: text/xml gets
    // application/xml's schema.
    if (content['application/xml'] && !content['text/xml']) content['text/xml'] = content['application/xml'];
    schema.body = { content };
  }
  return {
    method: op.method.toUpperCase() as RouteOptions['method'],
    url: op.routePath,
    schema,
    config: { operationId: op.operationId },
    // Callback style, not async: a hot route whose handler checks the session pays no promise here.
    onRequest:
      op.principal || responseHeaders
        ? (request, reply, done) => {
            if (responseHeaders) reply.headers(responseHeaders);
            const principal = op.principal;
            if (!principal || (op.principalOptional && request.headers.authorization === undefined)) return done();
            if (authOptions.sessionCheckedByHandler) {
              try {
                request.unconfirmedPrincipal = verifyAccessToken(app, request, principal);
              } catch (error) {
                return done(error as Error);
              }
              return done();
            }
            ctx.inFlight.track(authenticate(app, ctx, request, principal)).then(() => done(), done);
          }
        : undefined,
    preValidation: body
      ? async (request) => {
          const type = requestMediaType(request);
          if (!body.required && (request.body === undefined || request.body === null) && type === undefined) return;
          if (request.body === undefined || request.body === null || type === undefined) {
            throw new ProblemError('validation', `This operation needs a body: ${acceptedTypes.join(', ')}.`, {
              errors: [{ in: 'body', pointer: '', message: 'is required' }],
            });
          }
          if (!acceptedTypes.includes(type) && !(type === 'text/xml' && acceptedTypes.includes('application/xml'))) {
            throw new ProblemError('unsupported-media-type', `Send one of: ${acceptedTypes.join(', ')}.`);
          }
          if (isXmlMediaType(type)) {
            const schemaRef = body.content['application/xml']?.$ref as string;
            request.body = fromXml(String(request.body), {
              root: xmlRootFor(schemaRef),
              schemaRef,
              schemas: ctx.contract.xmlSchemas,
              maxBytes: ctx.config.bodyLimitBytes,
            });
          } else if (isJsonMediaType(type)) {
            const pointer = findNonXmlCharacter(request.body);
            if (pointer !== null) {
              throw new ProblemError('validation', 'The body contains a character that XML cannot carry (a control character or an unpaired surrogate).', {
                errors: [{ in: 'body', pointer, message: 'contains a character that is not allowed' }],
              });
            }
          }
        }
      : undefined,
    handler: async (request, reply) => {
      const result = await ctx.inFlight.track(handler(request, reply));
      return reply.sent ? reply : result;
    },
  };
}
