import type { components } from './generated/openapi.js';

type ProblemBody = components['schemas']['Problem'];
/** One offending field of a validation problem: where (`in`, a JSON Pointer) and what is wrong. */
export type FieldError = NonNullable<ProblemBody['errors']>[number];

const PROBLEM_BASE = 'https://proffer.dev/problems/';
const STANDARD_MEMBERS = new Set(['type', 'title', 'status', 'detail', 'instance', 'errors']);

/**
 * An RFC 9457 problem the server answered, as an Error. `type` is the stable URI to branch on
 * (docs/errors.md), `code` its last part (`grant-inactive`), `errors` the offending fields,
 * `extensions` every other member (e.g. `currentVersion`, `subscriptionStatus`, OAuth's `error`).
 */
export class ProfferProblem extends Error {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance: string | undefined;
  readonly errors: FieldError[];
  readonly extensions: Record<string, unknown>;
  /** The response's headers, e.g. `retry-after` of a 429 or 503. */
  readonly headers: Headers;

  constructor(body: ProblemBody & Record<string, unknown>, headers: Headers = new Headers()) {
    super(body.detail);
    this.name = 'ProfferProblem';
    this.type = body.type;
    this.title = body.title;
    this.status = body.status;
    this.detail = body.detail;
    this.instance = body.instance;
    this.errors = body.errors ?? [];
    this.extensions = Object.fromEntries(Object.entries(body).filter(([key]) => !STANDARD_MEMBERS.has(key)));
    this.headers = headers;
  }

  /** `grant-inactive` for `https://proffer.dev/problems/grant-inactive`; the whole type otherwise. */
  get code(): string {
    return this.type.startsWith(PROBLEM_BASE) ? this.type.slice(PROBLEM_BASE.length) : this.type;
  }

  /** Builds the problem of a non-2xx response from its (already parsed) body. */
  static fromResponse(response: Response, body: unknown): ProfferProblem {
    if (isProblemBody(body)) return new ProfferProblem(body, response.headers);
    // Not problem+json (a proxy's HTML page, an empty 404…): still a typed error, with what is known.
    const text = typeof body === 'string' ? body.trim().slice(0, 200) : '';
    return new ProfferProblem(
      { type: 'about:blank', title: response.statusText || `HTTP ${response.status}`, status: response.status, detail: text || `The server answered ${response.status} ${response.statusText}.`.trim() },
      response.headers,
    );
  }
}

function isProblemBody(body: unknown): body is ProblemBody & Record<string, unknown> {
  if (typeof body !== 'object' || body === null) return false;
  const candidate = body as Record<string, unknown>;
  return typeof candidate.type === 'string' && typeof candidate.status === 'number' && typeof candidate.detail === 'string' && typeof candidate.title === 'string';
}

/** The server could not be reached at all (refused, DNS, TLS, reset): no answer to report. */
export class ProfferUnreachable extends Error {
  readonly baseUrl: string;

  constructor(baseUrl: string, cause: unknown) {
    super(`Cannot reach the Proffer server at ${baseUrl}: ${describeNetworkError(cause)}.`, { cause });
    this.name = 'ProfferUnreachable';
    this.baseUrl = baseUrl;
  }
}

function describeNetworkError(error: unknown): string {
  // undici wraps the system error: TypeError('fetch failed', { cause: Error('connect ECONNREFUSED …') }).
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (error as { code?: string }).code;
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'no such host',
    ECONNRESET: 'connection reset',
    ETIMEDOUT: 'timed out',
    EHOSTUNREACH: 'host unreachable',
  };
  if (code && known[code]) return known[code];
  return cause?.message ?? (error instanceof Error ? error.message : String(error));
}
