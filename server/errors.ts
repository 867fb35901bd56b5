/**
 * Every problem the API can answer, in one place. The `type` URI of each is stable: clients
 * branch on it (docs/errors.md lists them).
 */
export const PROBLEM_BASE = 'https://proffer.dev/problems/';

export const problems = {
  validation: { status: 400, title: 'Invalid request' },
  'malformed-body': { status: 400, title: 'Malformed body' },
  'invalid-terms': { status: 400, title: 'Invalid terms' },
  'invalid-token': { status: 401, title: 'Invalid token' },
  'wrong-principal': { status: 403, title: 'Wrong kind of principal' },
  'grant-inactive': { status: 403, title: 'Grant not active' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'not-acceptable': { status: 406, title: 'Not acceptable' },
  'handle-taken': { status: 409, title: 'Handle taken' },
  'terms-outdated': { status: 409, title: 'Terms outdated' },
  'invalid-state': { status: 409, title: 'Not possible in this state' },
  'offer-exists': { status: 409, title: 'Offer exists' },
  'feed-link-limit': { status: 409, title: 'Too many feed links' },
  'person-erased': { status: 410, title: 'Person erased' },
  'precondition-failed': { status: 412, title: 'Precondition failed' },
  'payload-too-large': { status: 413, title: 'Payload too large' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'handle-reserved': { status: 422, title: 'Handle reserved' },
  'webhook-target-refused': { status: 422, title: 'Webhook target refused' },
  'idempotency-key-reused': { status: 422, title: 'Idempotency key reused' },
  'too-many-requests': { status: 429, title: 'Too many requests' },
  'read-limit': { status: 429, title: 'Daily read limit reached' },
  internal: { status: 500, title: 'Internal error' },
  unavailable: { status: 503, title: 'Service unavailable' },
  'request-timeout': { status: 408, title: 'Request timeout' },
  'oauth/invalid-request': { status: 400, title: 'Invalid request' },
  'oauth/invalid-grant': { status: 400, title: 'Invalid grant' },
  'oauth/unsupported-grant-type': { status: 400, title: 'Unsupported grant type' },
  'oauth/invalid-client': { status: 401, title: 'Invalid client' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemCode = keyof typeof problems;

export interface FieldError {
  in: 'body' | 'query' | 'path' | 'header';
  pointer: string;
  message: string;
  /** Terms only: the offending rule's id. */
  rule?: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  error?: string;
  error_description?: string;
  [extension: string]: unknown;
}

/** A failure meant for the client: thrown anywhere, rendered as problem+json by the error handler. */
export class ProblemError extends Error {
  readonly code: ProblemCode;
  readonly status: number;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;
  readonly extensions: Record<string, unknown>;

  constructor(
    code: ProblemCode,
    detail: string,
    options: { errors?: FieldError[]; headers?: Record<string, string>; extensions?: Record<string, unknown> } = {},
  ) {
    super(detail);
    this.name = 'ProblemError';
    this.code = code;
    this.status = problems[code].status;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }

  toBody(): ProblemBody {
    // Extensions never overwrite the members RFC 9457 defines.
    const body: ProblemBody = {
      ...this.extensions,
      type: PROBLEM_BASE + this.code,
      title: problems[this.code].title,
      status: this.status,
      detail: this.message,
    };
    if (this.errors) body.errors = this.errors;
    return body;
  }
}

/** RFC 6749 §5.2 errors, carried inside a problem+json body. */
export function oauthProblem(
  error: 'invalid_request' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_client',
  description: string,
  options: { errors?: FieldError[] } = {},
): ProblemError {
  const code = `oauth/${error.replaceAll('_', '-')}` as ProblemCode;
  return new ProblemError(code, description, {
    ...(options.errors ? { errors: options.errors } : {}),
    extensions: { error, error_description: description },
    headers: error === 'invalid_client' ? { 'www-authenticate': 'Basic realm="proffer"' } : {},
  });
}

export const notFound = (detail: string) => new ProblemError('not-found', detail);
