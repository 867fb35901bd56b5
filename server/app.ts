import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { parse as parseYaml } from 'yaml';
import type { AppContext } from './context.js';
import { digest } from './services/secrets.js';
import { ProblemError } from './errors.js';
import { registerJwt } from './http/auth.js';
import { bindOperations } from './http/bind.js';
import { registerBodyParsers } from './http/bodies.js';
import { errorHandler, sendProblem } from './http/errors.js';
import { registerResponseValidation } from './http/response-validation.js';
import { accountHandlers } from './routes/accounts.js';
import { feedHandlers, feedOperationExtras } from './routes/feeds.js';
import { intentHandlers } from './routes/intents.js';
import { meHandlers } from './routes/me.js';
import { needHandlers } from './routes/needs.js';
import { operationsHandlers } from './routes/operations.js';
import { profileHandlers } from './routes/profile.js';
import { pushHandlers } from './routes/push.js';
import { outboxWritten } from './push/signal.js';
import { subscriptionHandlers } from './routes/subscriptions.js';
import { termsHandlers } from './routes/terms.js';

declare module 'fastify' {
  interface FastifyInstance {
    registeredRoutes: { method: string; url: string }[];
  }
}

/**
 * Builds the HTTP application on a context. Start reading here: every route comes from
 * openapi.yaml through bindOperations, every error leaves through errorHandler.
 */
export async function buildApp(ctx: AppContext, options: { logger?: FastifyServerOptions['logger'] } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? { level: ctx.config.logLevel, redact: ['req.headers.authorization'] },
    // Our own one-line access log below carries the route pattern, never the raw URL (handles,
    // cursors and later capability links are in URLs) and never a body.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: ctx.config.bodyLimitBytes,
    requestTimeout: ctx.config.requestTimeoutMs,
    connectionTimeout: ctx.config.requestTimeoutMs + 5_000,
    keepAliveTimeout: 72_000,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    routerOptions: { ignoreTrailingSlash: false, caseSensitive: true },
    return503OnClosing: true,
  });
  // Every route as registered, so a test can hold the route table against openapi.yaml.
  const registeredRoutes: { method: string; url: string }[] = [];
  app.decorate('registeredRoutes', registeredRoutes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) registeredRoutes.push({ method, url: route.url });
  });
  ctx.hooks.onPoolError = (error) => app.log.warn({ err: { message: error.message } }, 'database connection lost; it will be re-established');

  // Validation runs on our own Ajv instances built from schemas/: bodies are never coerced and
  // unknown properties are refused; query and path strings are coerced to their declared types.
  const bodyAjv = ctx.contract.createAjv();
  const parameterAjv = ctx.contract.createAjv({ coerceTypes: true, useDefaults: true });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyAjv : parameterAjv).compile(schema as object),
  );
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    // A capability link mistyped (a trailing slash) must not be echoed back: it is a secret.
    if (path.startsWith('/v1/feeds/')) return sendProblem(reply.header('referrer-policy', 'no-referrer'), new ProblemError('not-found', 'No feed at this address.'));
    return sendProblem(reply, new ProblemError('not-found', `Nothing at ${request.method} ${path}.`));
  });

  app.addHook('onResponse', (request, reply, done) => {
    // A successful write may have put webhook messages in the outbox: wake this process's dispatcher.
    if (request.method !== 'GET' && request.method !== 'HEAD' && reply.statusCode < 400) outboxWritten(ctx);
    request.log.info(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
    done();
  });

  registerBodyParsers(app);
  await registerJwt(app, ctx);
  // Only where guessing pays: the token endpoint, per client address and per account, so one
  // address cannot try passwords on an account quickly, nor one account lock out others.
  await app.register(fastifyRateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) =>
      new ProblemError('too-many-requests', `Too many token requests for this account from this address; try again in ${Math.ceil(context.ttl / 1000)} s.`, {
        headers: { 'retry-after': String(Math.ceil(context.ttl / 1000)) },
      }),
  });
  const tokenRateLimit = {
    max: ctx.config.tokenRateLimit,
    timeWindow: 60_000,
    hook: 'preHandler' as const,
    keyGenerator: (request: { ip: string; body?: unknown; headers: { authorization?: string } }) => {
      const body = (request.body ?? {}) as Record<string, unknown>;
      const secretish = typeof body.refresh_token === 'string' ? body.refresh_token : request.headers.authorization;
      const account = String(body.username ?? body.client_id ?? (secretish ? digest(secretish) : ''));
      return `${request.ip}|${String(body.grant_type)}|${account.toLowerCase()}`;
    },
  };
  if (ctx.validateResponses) registerResponseValidation(app, ctx);

  await app.register(fastifySwagger, { mode: 'static', specification: { document: parseYaml(ctx.contract.bundledYaml()) } });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', staticCSP: true });

  bindOperations(app, ctx, {
    ...accountHandlers(app, ctx),
    ...profileHandlers(ctx),
    ...needHandlers(ctx),
    ...meHandlers(ctx),
    ...termsHandlers(ctx),
    ...subscriptionHandlers(ctx),
    ...operationsHandlers(ctx),
    ...pushHandlers(ctx),
    ...feedHandlers(ctx),
    ...intentHandlers(ctx),
  }, { createToken: { config: { rateLimit: tokenRateLimit } }, ...feedOperationExtras });
  return app;
}
