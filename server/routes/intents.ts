import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { notFound } from '../errors.js';
import { renderAccessLogFeed } from '../feeds/access-log-feed.js';
import { IntentFeedRenderer } from '../feeds/intent-feed.js';
import type { FeedFormat } from '../feeds/render.js';
import type { RenderedFeed } from '../feeds/vendor-feed.js';
import { principalOf } from '../http/auth.js';
import { chooseRepresentation, FEED_VARY } from '../http/content-coding.js';
import { matchesIfNoneMatch, notModified } from '../http/conditional.js';
import type { Handlers } from '../http/bind.js';
import { getPerson } from '../services/accounts.js';
import { getIntent, type IntentClock, type IntentFilters } from '../services/intents.js';
import {
  acceptOffer,
  createOffer,
  declineOffer,
  listNeedOffers,
  listVendorOffers,
  needOffer,
  vendorOffer,
  withdrawOffer,
  type OfferInput,
  type OfferStatus,
} from '../services/offers.js';
import { feedFormat } from './me.js';

/** Public answers may be cached this long by anyone: short, so a withdrawn need is soon gone everywhere. */
const PUBLIC_MAX_AGE_SECONDS = 30;

type IntentQuery = Omit<IntentFilters, 'categories'> & { category?: string; format?: FeedFormat; limit: number; cursor?: string };
type OfferListQuery = { limit: number; cursor?: string; status?: OfferStatus };
type NeedOfferParams = { needId: string; offerId: string };

/** The order filters are written in links and cache keys: one spelling per query. */
const FILTER_ORDER = ['category', 'country', 'region', 'locality', 'postalCode', 'includeUnlocated', 'currency', 'budgetMin', 'budgetMax', 'wantedBefore', 'wantedAfter'] as const;

function canonicalFilters(query: IntentQuery): { filters: IntentFilters; filterQuery: string } {
  const search = new URLSearchParams();
  for (const name of FILTER_ORDER) {
    const value = query[name];
    if (value !== undefined && !(name === 'includeUnlocated' && value === false)) search.set(name, String(value));
  }
  const { category, format: _format, limit: _limit, cursor: _cursor, ...rest } = query;
  return { filters: { ...rest, ...(category !== undefined ? { categories: category.split(',') } : {}) }, filterQuery: search.toString() };
}

function sendFeed(request: FastifyRequest, reply: FastifyReply, rendered: RenderedFeed, cacheControl: string) {
  const chosen = chooseRepresentation(request, rendered);
  reply
    .header('etag', chosen.etag)
    .header('last-modified', rendered.lastModified.toUTCString())
    .header('cache-control', cacheControl)
    .header('vary', FEED_VARY);
  if (notModified(request.headers, chosen.etag, rendered.lastModified)) return reply.code(304).send();
  if (chosen.contentEncoding) reply.header('content-encoding', chosen.contentEncoding);
  return reply.type(rendered.contentType).send(chosen.body);
}

export function intentHandlers(ctx: AppContext): Handlers {
  const renderer = new IntentFeedRenderer({ db: ctx.db, database: ctx.database, publicUrl: ctx.config.publicUrl, xmlSchemas: ctx.contract.xmlSchemas, batching: ctx.config.intentBatching });
  const clock = (): IntentClock => ({ now: new Date(), batching: ctx.config.intentBatching });
  const signer = { keys: ctx.receiptKeys, issuer: ctx.config.publicUrl };

  return {
    listIntents: async (request, reply) => {
      const query = request.query as IntentQuery;
      const format = feedFormat(request, query.format);
      const { filters, filterQuery } = canonicalFilters(query);
      const rendered = await renderer.page({ filters, filterQuery, format, limit: query.limit, cursor: query.cursor });
      return sendFeed(request, reply, rendered, `public, max-age=${PUBLIC_MAX_AGE_SECONDS}`);
    },

    getIntent: async (request, reply) => {
      const { intentId } = request.params as { intentId: string };
      const intent = await getIntent(ctx.db, ctx.config.publicUrl, clock(), intentId);
      const etag = `"${createHash('sha256').update(JSON.stringify(intent)).digest('base64url').slice(0, 32)}"`;
      reply.header('etag', etag).header('cache-control', `public, max-age=${PUBLIC_MAX_AGE_SECONDS}`);
      const ifNoneMatch = request.headers['if-none-match'];
      if (ifNoneMatch !== undefined && matchesIfNoneMatch(ifNoneMatch, etag)) {
        return reply.code(304).send();
      }
      return reply.send(intent);
    },

    createOffer: async (request, reply) => {
      const { intentId } = request.params as { intentId: string };
      const { offer, replayed } = await createOffer(ctx.db, clock(), principalOf(request).id, intentId, request.body as OfferInput);
      if (!replayed) reply.code(201).header('location', `${ctx.config.publicUrl}/v1/offers/${offer.id}`);
      return reply.send(offer);
    },

    listOffers: async (request, reply) => reply.send(await listVendorOffers(ctx.db, principalOf(request).id, request.query as OfferListQuery)),

    getOffer: async (request, reply) => reply.send(await vendorOffer(ctx.db, principalOf(request).id, (request.params as { offerId: string }).offerId)),

    withdrawOffer: async (request, reply) => reply.send(await withdrawOffer(ctx.db, principalOf(request).id, (request.params as { offerId: string }).offerId)),

    listNeedOffers: async (request, reply) => {
      const { needId } = request.params as { needId: string };
      return reply.send(await listNeedOffers(ctx.db, principalOf(request).id, needId, request.query as OfferListQuery));
    },

    getNeedOffer: async (request, reply) => {
      const { needId, offerId } = request.params as NeedOfferParams;
      return reply.send(await needOffer(ctx.db, principalOf(request).id, needId, offerId));
    },

    acceptOffer: async (request, reply) => {
      const { needId, offerId } = request.params as NeedOfferParams;
      return reply.send(await acceptOffer(ctx.db, principalOf(request).id, needId, offerId, signer));
    },

    declineOffer: async (request, reply) => {
      const { needId, offerId } = request.params as NeedOfferParams;
      const { reason } = (request.body ?? {}) as { reason?: string };
      return reply.send(await declineOffer(ctx.db, principalOf(request).id, needId, offerId, reason));
    },

    getAccessLogFeed: async (request, reply) => {
      const query = request.query as { format?: FeedFormat; limit: number; cursor?: string };
      const format = feedFormat(request, query.format);
      const person = await getPerson(ctx.db, principalOf(request).id);
      if (!person) throw notFound('No such person.');
      const rendered = await renderAccessLogFeed(
        { db: ctx.db, publicUrl: ctx.config.publicUrl, xmlSchemas: ctx.contract.xmlSchemas },
        person,
        { format, limit: query.limit, cursor: query.cursor },
      );
      return sendFeed(request, reply, rendered, 'private, no-cache');
    },
  };
}
