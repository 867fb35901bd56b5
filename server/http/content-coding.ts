import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { FastifyRequest } from 'fastify';
import Negotiator from 'negotiator';

const gzipInThreadPool = promisify(gzip);

/** A body in one content coding, with the strong ETag of exactly those bytes. */
export interface CodedBody {
  body: Buffer;
  etag: string;
}

/** What one request is sent: the body in the coding it accepts, and that coding (absent: identity). */
export interface ChosenRepresentation extends CodedBody {
  contentEncoding?: 'gzip' | undefined;
}

/** A cached render: its identity body and tag, and the gzip form when that is smaller. */
export interface Representations extends CodedBody {
  gzip?: GzipForm | undefined;
}

export interface GzipForm extends CodedBody {
  contentEncoding: 'gzip';
}

/**
 * The gzip form of a rendered body, compressed once per render off the event loop, or undefined
 * when it would not be smaller. Its tag is a digest of the compressed bytes: a strong ETag names
 * one byte sequence (RFC 9110 §8.8.3), and the coded bytes are another representation.
 */
export async function gzipForm(body: Buffer, tagPrefix: string): Promise<GzipForm | undefined> {
  const compressed = await gzipInThreadPool(body, { level: 6 });
  if (compressed.length >= body.length) return undefined;
  const digest = createHash('sha256').update(tagPrefix).update('gzip').update(compressed).digest('base64url').slice(0, 32);
  return { body: compressed, etag: `"${digest}"`, contentEncoding: 'gzip' };
}

/** Accept-Encoding values are few and repeat on every poll: each is negotiated once (a bounded memo). */
const gzipByAcceptEncoding = new Map<string, boolean>();

/** Whether the request takes gzip over identity (q-values respected; ties go to gzip). */
export function acceptsGzip(request: FastifyRequest): boolean {
  const header = request.headers['accept-encoding'];
  if (header === undefined) return false;
  let accepted = gzipByAcceptEncoding.get(header);
  if (accepted === undefined) {
    accepted = new Negotiator({ headers: { 'accept-encoding': header } }).encoding(['gzip', 'identity']) === 'gzip';
    if (gzipByAcceptEncoding.size >= 256) gzipByAcceptEncoding.clear();
    gzipByAcceptEncoding.set(header, accepted);
  }
  return accepted;
}

/**
 * The representation this request gets: gzip when it accepts it and the render has it, else
 * identity (the render itself, which names no coding). Nothing is allocated: this is every read.
 */
export function chooseRepresentation(request: FastifyRequest, rendered: Representations): ChosenRepresentation {
  return rendered.gzip && acceptsGzip(request) ? rendered.gzip : rendered;
}

/** Feeds vary by format (Accept) and by content coding (Accept-Encoding). */
export const FEED_VARY = 'Accept, Accept-Encoding';
