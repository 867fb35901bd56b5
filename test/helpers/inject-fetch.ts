import type { FastifyInstance } from 'fastify';
import type { FetchLike } from '../../clients/sdk/index.js';

// Statuses whose responses never have a body (a Response with one would throw).
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A `fetch` that hands each request to the in-process app through `app.inject`: the SDK's HTTP
 * exchange with no socket. Only the path and query of the URL matter; the origin is the caller's.
 */
export function injectFetch(app: FastifyInstance): FetchLike {
  return async (request) => {
    const url = new URL(request.url);
    const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    const answer = await app.inject({
      method: request.method as 'GET',
      url: url.pathname + url.search,
      headers: Object.fromEntries(request.headers),
      ...(body ? { payload: body } : {}),
    });
    const headers = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value === undefined) continue;
      for (const one of Array.isArray(value) ? value : [value]) headers.append(name, String(one));
    }
    const hasBody = !NULL_BODY.has(answer.statusCode) && request.method !== 'HEAD';
    return new Response(hasBody ? answer.rawPayload : null, { status: answer.statusCode, statusText: answer.statusMessage, headers });
  };
}
