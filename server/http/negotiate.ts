import type { FastifyRequest } from 'fastify';
import Negotiator from 'negotiator';
import { ProblemError } from '../errors.js';

/** The best of `available` for the request's Accept header (the first when Accept is absent). */
export function chooseMediaType(request: FastifyRequest, available: readonly string[]): string {
  const chosen = new Negotiator(request.raw).mediaType([...available]);
  if (!chosen) throw new ProblemError('not-acceptable', `Available as: ${available.join(', ')}.`);
  return chosen;
}

/** The media type of the request body, without parameters, lower-cased. */
export function requestMediaType(request: FastifyRequest): string | undefined {
  const header = request.headers['content-type'];
  return header?.split(';')[0]?.trim().toLowerCase() || undefined;
}

export const isXmlMediaType = (type: string) => type === 'application/xml' || type === 'text/xml';
export const isJsonMediaType = (type: string) => type === 'application/json' || type.endsWith('+json');
