import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { notFound } from '../errors.js';
import { decodeEventCursor, encodeEventCursor, personFeed } from '../feeds/person-feed.js';
import { FEED_MEDIA_TYPES, renderFeed, type FeedFormat } from '../feeds/render.js';
import { principalOf } from '../http/auth.js';
import type { Handlers } from '../http/bind.js';
import { chooseMediaType } from '../http/negotiate.js';
import { sendDocument } from '../http/respond.js';
import { erasePerson, getPerson } from '../services/accounts.js';
import { listEvents } from '../services/events.js';
import { exportPerson } from '../services/export.js';

const FORMAT_BY_TYPE = Object.fromEntries(Object.entries(FEED_MEDIA_TYPES).map(([format, type]) => [type, format])) as Record<string, FeedFormat>;

/** `?format=` wins; otherwise Accept decides, Atom when the client has no preference. */
export function feedFormat(request: FastifyRequest, format: FeedFormat | undefined): FeedFormat {
  if (format) return format;
  const type = chooseMediaType(request, [FEED_MEDIA_TYPES.atom, FEED_MEDIA_TYPES.rss, FEED_MEDIA_TYPES.json, 'application/json']);
  return FORMAT_BY_TYPE[type] ?? 'json';
}

export function meHandlers(ctx: AppContext): Handlers {
  const currentPerson = async (request: FastifyRequest) => {
    const person = await getPerson(ctx.db, principalOf(request).id);
    if (!person) throw notFound('No such person.');
    return person;
  };

  return {
    getMe: async (request, reply) => reply.send(await currentPerson(request)),

    eraseMe: async (request, reply) => {
      await erasePerson(ctx.db, principalOf(request).id);
      return reply.code(204).send();
    },

    getMyFeed: async (request, reply) => {
      const query = request.query as { format?: FeedFormat; limit: number; cursor?: string };
      const format = feedFormat(request, query.format);
      const before = query.cursor === undefined ? undefined : decodeEventCursor(query.cursor);
      const person = await currentPerson(request);
      const rows = await listEvents(ctx.db, person.id, { limit: query.limit + 1, before });
      const events = rows.slice(0, query.limit);
      const last = events.at(-1);
      const feed = personFeed({
        publicUrl: ctx.config.publicUrl,
        person,
        events,
        format,
        limit: query.limit,
        cursor: query.cursor,
        nextCursor: rows.length > query.limit && last ? encodeEventCursor(last.id) : undefined,
      });
      return reply
        .type(`${FEED_MEDIA_TYPES[format]}; charset=utf-8`)
        .header('cache-control', 'private, no-cache')
        .header('vary', 'Accept')
        .send(renderFeed(feed, format));
    },

    exportMe: async (request, reply) => {
      const exported = await exportPerson(ctx.db, principalOf(request).id);
      reply.header('content-disposition', `attachment; filename="proffer-export-${exported.person.handle}.${
        chooseMediaType(request, ['application/json', 'application/xml']) === 'application/xml' ? 'xml' : 'json'
      }"`).header('cache-control', 'no-store');
      return sendDocument(ctx, request, reply, 'exportMe', exported);
    },
  };
}
