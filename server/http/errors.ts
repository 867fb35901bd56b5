import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ProblemError, oauthProblem, type FieldError } from '../errors.js';
import { fieldErrors } from '../validation.js';
import { XmlInputError } from '../xml/index.js';

const VALIDATION_LOCATIONS: Record<string, FieldError['in']> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

// Connection-level failures of PostgreSQL: the database is away, not the request at fault.
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '53300']);
export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
  return typeof message === 'string' && /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection is closed/i.test(message);
}

/** Fastify's own 4xx errors, as problems. Anything not listed is ours to explain (or a 500). */
function fromFastify(error: FastifyError): ProblemError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ProblemError('unsupported-media-type', 'This Content-Type is not accepted here.');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ProblemError('payload-too-large', 'The body is larger than this server accepts.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ProblemError('malformed-body', 'The body is empty but its Content-Type says JSON.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ProblemError('malformed-body', 'Content-Length does not match the body.');
    case 'FST_ERR_CTP_EMPTY_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return new ProblemError('unsupported-media-type', 'The Content-Type header is missing or invalid.');
  }
  if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new ProblemError('malformed-body', 'The body is not valid JSON.');
  }
  if (error.statusCode === 400 && /prototype|constructor/i.test(error.message)) {
    return new ProblemError('malformed-body', 'The body contains a forbidden key (__proto__ or constructor.prototype).');
  }
  if (error.code === 'FST_ERR_VALIDATION' || error.validation) {
    const location = VALIDATION_LOCATIONS[error.validationContext ?? 'body'] ?? 'body';
    return new ProblemError('validation', location === 'body' ? 'The request body does not match the schema.' : `The request's ${location} parameters do not match the schema.`, {
      errors: fieldErrors(error.validation as Parameters<typeof fieldErrors>[0], location),
    });
  }
  return undefined;
}

export function toProblem(error: unknown): ProblemError | undefined {
  if (error instanceof ProblemError) return error;
  if (error instanceof XmlInputError) {
    return new ProblemError('malformed-body', `The XML body was refused: ${error.reason}.`, {
      ...(error.pointer ? { errors: [{ in: 'body', pointer: error.pointer, message: error.reason }] } : {}),
    });
  }
  if (isDatabaseUnavailable(error)) {
    return new ProblemError('unavailable', 'The database is not reachable. Try again shortly.', { headers: { 'retry-after': '5' } });
  }
  const fastifyError = error as FastifyError;
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return fromFastify(fastifyError) ?? new ProblemError('validation', 'The request could not be processed.');
  }
  return undefined;
}

export function sendProblem(reply: FastifyReply, problem: ProblemError): FastifyReply {
  return reply.code(problem.status).headers(problem.headers).type('application/problem+json').send(problem.toBody());
}

/** The OAuth endpoints, whose every refusal carries an RFC 6749 §5.2 `error` (RFC 7009 §2.2.1 for revocation). */
const OAUTH_OPERATIONS = new Set(['createToken', 'revokeToken']);

/**
 * A request to an OAuth endpoint that fails schema validation or parsing is `invalid_request`, or
 * `unsupported_grant_type` when the grant_type given is not one we know; the field errors stay.
 */
function asOAuthProblem(problem: ProblemError, request: FastifyRequest): ProblemError {
  if (problem.code !== 'validation' && problem.code !== 'malformed-body') return problem;
  if (!OAUTH_OPERATIONS.has(request.routeOptions.config?.operationId ?? '')) return problem;
  const body = request.body as Record<string, unknown> | null | undefined;
  const unsupportedGrant =
    problem.code === 'validation' &&
    typeof body?.grant_type === 'string' &&
    (problem.errors ?? []).some((e) => e.in === 'body' && e.pointer === '/grant_type');
  return unsupportedGrant
    ? oauthProblem('unsupported_grant_type', 'This grant_type is not supported: use password, client_credentials or refresh_token.', { errors: problem.errors })
    : oauthProblem('invalid_request', problem.message, { errors: problem.errors });
}

/**
 * Terms refused by the schema name their rule like terms refused by the engine: each error
 * whose pointer falls inside `/rules/N` carries that rule's id, and so does the detail.
 */
function asTermsProblem(problem: ProblemError, request: FastifyRequest): ProblemError {
  if (problem.code !== 'validation' || request.routeOptions.config?.operationId !== 'replaceTerms') return problem;
  const rules = (request.body as { rules?: unknown } | undefined)?.rules;
  const ruleAt = (pointer: string) => {
    const index = /^\/rules\/(\d+)(\/|$)/.exec(pointer)?.[1];
    const id = index === undefined || !Array.isArray(rules) ? undefined : (rules[Number(index)] as { id?: unknown } | undefined)?.id;
    return typeof id === 'string' ? id : undefined;
  };
  const errors = (problem.errors ?? []).map((e) => {
    const rule = ruleAt(e.pointer);
    return rule === undefined ? e : { ...e, rule };
  });
  const named = errors.find((e) => e.rule !== undefined)?.rule;
  return new ProblemError(
    'invalid-terms',
    named ? `Rule "${named}" cannot be used: nothing was changed.` : 'These terms cannot be used: nothing was changed.',
    { errors },
  );
}

/** The one place errors become responses: known problems as they are, everything else a bare 500. */
export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const known = toProblem(error);
  const problem = known && asTermsProblem(asOAuthProblem(known, request), request);
  if (problem) {
    if (problem.status >= 500) request.log.warn({ err: { message: (error as Error).message, code: (error as { code?: string }).code } }, 'database unavailable');
    return sendProblem(reply, problem);
  }
  request.log.error({ err: error }, 'unhandled error');
  return sendProblem(reply, new ProblemError('internal', 'Something went wrong on our side. It has been logged.'));
}
