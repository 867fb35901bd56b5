import type { FastifyInstance } from 'fastify';
import { ProblemError } from '../errors.js';

/**
 * Request body parsers beyond fastify's JSON: merge patches (JSON), XML (kept as text here and
 * converted per operation, where the expected document is known) and OAuth's form encoding.
 */
export function registerBodyParsers(app: FastifyInstance): void {
  app.addContentTypeParser('application/merge-patch+json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
  app.addContentTypeParser(['application/xml', 'text/xml'], { parseAs: 'string' }, (_request, body, done) => done(null, body));
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseForm(String(body)));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

/** RFC 6749 §3.2: a parameter sent twice is an invalid request, never "last one wins". */
export function parseForm(text: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [key, value] of new URLSearchParams(text)) {
    if (Object.hasOwn(out, key)) {
      throw new ProblemError('validation', `The parameter "${key}" is given more than once.`, {
        errors: [{ in: 'body', pointer: `/${key}`, message: 'is repeated' }],
      });
    }
    out[key] = value;
  }
  // A plain object again, so schema validation sees an ordinary object.
  return { ...out };
}
