import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import { ProblemError } from '../errors.js';
import type { Handlers } from '../http/bind.js';

export function operationsHandlers(ctx: AppContext): Handlers {
  const bundled = ctx.contract.bundledYaml();
  return {
    getHealth: async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }),

    getReadiness: async (_request, reply) => {
      try {
        await sql`select 1`.execute(ctx.db);
      } catch {
        throw new ProblemError('unavailable', 'The database is not reachable.', { headers: { 'retry-after': '5' } });
      }
      return reply.header('cache-control', 'no-store').send({ status: 'ok' });
    },

    // Cacheable for an hour: a rotation publishes the next key at least that long before using it.
    getJwks: async (_request, reply) =>
      reply.type('application/jwk-set+json').header('cache-control', 'public, max-age=3600').send(ctx.receiptKeys.jwks),

    getOpenApi: async (_request, reply) => reply.type('application/yaml; charset=utf-8').send(bundled),
  };
}
