import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { ProblemError, notFound } from '../errors.js';
import type { FeedFormat } from '../feeds/render.js';
import { lastModifiedHeader, VendorFeedRenderer, type FeedAddress } from '../feeds/vendor-feed.js';
import { principalOf, sessionEnded, unconfirmedPrincipalOf } from '../http/auth.js';
import { chooseRepresentation, FEED_VARY } from '../http/content-coding.js';
import { notModified } from '../http/conditional.js';
import type { Handlers, OperationExtras, OperationId } from '../http/bind.js';
import { erasedProblem } from '../services/acknowledgements.js';
import { AccessLogWriter } from '../services/access-log-writer.js';
import { readLimitReached } from '../services/subscriptions.js';
import { capabilityDigest, deleteFeedLink, feedLinkUrl, listFeedLinks, mintFeedLink, rotateFeedLink } from '../services/feed-links.js';
import { countLimitedRead, decodePosition, feedGrant, FeedHeads, type FeedHead } from '../services/vendor-feed.js';
import { feedFormat } from './me.js';

type ById = { subscriptionId: string };
type ByLink = ById & { linkId: string };
type FeedQuery = { format?: FeedFormat; limit: number; cursor?: string };

/**
 * The vendor's feed checks the token's session in the read's head lookup (with the grant and the
 * person's data version: `FeedHeads`), and capability links send no referrer anywhere, errors
 * included.
 */
export const feedOperationExtras: Partial<Record<OperationId, OperationExtras>> = {
  readSubscriptionFeed: { sessionCheckedByHandler: true },
  readFeedByCapability: { responseHeaders: { 'referrer-policy': 'no-referrer' } },
};

const grantInactive = (status: string) =>
  new ProblemError('grant-inactive', `This subscription is ${status}: nothing may be read under it.`, { extensions: { subscriptionStatus: status } });

/** Accept headers are few and repeat on every poll: each is negotiated once (a bounded memo). */
const formatsByAccept = new Map<string, FeedFormat>();
function formatOf(request: FastifyRequest, requested: FeedFormat | undefined): FeedFormat {
  if (requested) return requested;
  const accept = request.headers.accept ?? '';
  let format = formatsByAccept.get(accept);
  if (format === undefined) {
    format = feedFormat(request, undefined);
    if (formatsByAccept.size >= 256) formatsByAccept.clear();
    formatsByAccept.set(accept, format);
  }
  return format;
}

/** Unknown, deleted, rotated away or dead with its grant: one answer, so none can be told apart. */
const noSuchFeed = () => notFound('No feed at this address.');

export function feedHandlers(ctx: AppContext): Handlers {
  const { publicUrl } = ctx.config;
  const erasure = { publicUrl, deadlineSeconds: ctx.config.acknowledgementDeadlineSeconds };
  const renderer = new VendorFeedRenderer({ db: ctx.db, publicUrl, xmlSchemas: ctx.contract.xmlSchemas, maxBytes: ctx.config.feedCacheBytes });
  const accessLog = new AccessLogWriter(ctx.database);
  const heads = new FeedHeads(ctx.database);

  /**
   * A page of the feed, for a grant whose head was found active: from the render cache (a miss
   * reads the grant and renders), answered 304 with no further database work when the client has
   * it, otherwise logged (durably) and sent.
   */
  const serve = async (
    request: FastifyRequest,
    reply: FastifyReply,
    head: FeedHead,
    address: FeedAddress,
    via: { what: 'feed' | 'feed-link'; refused: (status: string) => ProblemError },
  ) => {
    const query = request.query as FeedQuery;
    const format = formatOf(request, query.format);
    decodePosition(query.cursor); // a forged cursor is a 400 before anything is rendered
    const page = { format, limit: query.limit, cursor: query.cursor };
    let rendered = renderer.cached(head, address, page);
    if (!rendered) {
      // The grant may have changed since its head was read: what is rendered is what it is now.
      const grant = await feedGrant(ctx.database, head.subscriptionId);
      if (grant?.status !== 'active') throw via.refused(grant?.status ?? 'ended');
      rendered = await renderer.page(grant, address, page);
    }
    reply.header('cache-control', 'private, no-cache').header('vary', FEED_VARY);
    let chosen = chooseRepresentation(request, rendered);
    if (notModified(request.headers, chosen.etag, rendered.lastModified)) {
      return reply.code(304).header('etag', chosen.etag).header('last-modified', lastModifiedHeader(rendered)).send();
    }

    const { grant } = rendered;
    if (request.method === 'HEAD') {
      // Headers only: nothing is disclosed, so nothing is logged or counted (like a 304).
    } else if (grant.maxReadsPerDay !== null) {
      const counted = await countLimitedRead(ctx.db, grant, { what: via.what, address: request.ip });
      if (counted.outcome === 'refused') throw via.refused(counted.status);
      if (counted.outcome === 'limited') {
        throw readLimitReached(counted.limit);
      }
      // The grant changed between the render and the lock: serve what was counted and logged.
      if (counted.grantVersion !== grant.grantVersion) {
        const { fieldsJson, categoriesJson, grantVersion, grantChangedMs } = counted;
        rendered = await renderer.page({ ...grant, fieldsJson, categoriesJson, grantVersion, grantChangedMs }, address, page);
        chosen = chooseRepresentation(request, rendered);
      }
    } else {
      try {
        await accessLog.write({
          personId: grant.personId,
          subscriptionId: grant.subscriptionId,
          vendorId: grant.vendorId,
          what: via.what,
          fieldsJson: grant.fieldsJson,
          address: request.ip,
          at: new Date(),
        });
      } catch (error) {
        request.log.warn({ err: { message: (error as Error).message, code: (error as { code?: string }).code } }, 'access log write failed; read refused');
        throw new ProblemError('unavailable', "This read could not be recorded in the person's access log, so it was not served. Try again shortly.", {
          headers: { 'retry-after': '5' },
        });
      }
    }
    if (chosen.contentEncoding) reply.header('content-encoding', chosen.contentEncoding);
    return reply.code(200).type(rendered.contentType).header('etag', chosen.etag).header('last-modified', lastModifiedHeader(rendered)).send(chosen.body);
  };

  return {
    readSubscriptionFeed: async (request, reply) => {
      const principal = unconfirmedPrincipalOf(request);
      const { subscriptionId } = request.params as ById;
      const found = await heads.forSession({ sessionId: principal.sessionId, vendorId: principal.id }, subscriptionId);
      if (found.session === 'ended') throw sessionEnded();
      // Vendors that only poll learn of an erasure here: 410, with the deletion they must confirm.
      if (!found.head) throw (await erasedProblem(ctx.db, principal.id, subscriptionId, erasure)) ?? notFound('No subscription with this id.');
      if (found.head.status !== 'active') throw grantInactive(found.head.status);
      const address = { base: `${publicUrl}/v1/subscriptions/${subscriptionId}/feed`, cacheScope: 'token', entryLinks: true };
      return serve(request, reply, found.head, address, { what: 'feed', refused: grantInactive });
    },

    readFeedByCapability: async (request, reply) => {
      const { capability } = request.params as { capability: string };
      const digest = capabilityDigest(capability);
      const head = await heads.forCapability(digest);
      if (head?.status !== 'active') throw noSuchFeed();
      // Keyed by the digest: a rotated link's renders (whose links carry the old URL) are never served.
      const address = { base: feedLinkUrl(publicUrl, capability), cacheScope: `link:${digest}`, entryLinks: false };
      return serve(request, reply, head, address, { what: 'feed-link', refused: noSuchFeed });
    },

    createFeedLink: async (request, reply) =>
      reply.code(201).send(await mintFeedLink(ctx.db, principalOf(request).id, (request.params as ById).subscriptionId, publicUrl)),

    listFeedLinks: async (request, reply) =>
      reply.send(await listFeedLinks(ctx.db, { vendorId: principalOf(request).id }, (request.params as ById).subscriptionId)),

    deleteFeedLink: async (request, reply) => {
      const { subscriptionId, linkId } = request.params as ByLink;
      await deleteFeedLink(ctx.db, { vendorId: principalOf(request).id }, subscriptionId, linkId);
      return reply.code(204).send();
    },

    listMyFeedLinks: async (request, reply) =>
      reply.send(await listFeedLinks(ctx.db, { personId: principalOf(request).id }, (request.params as ById).subscriptionId)),

    rotateMyFeedLink: async (request, reply) => {
      const { subscriptionId, linkId } = request.params as ByLink;
      return reply.send(await rotateFeedLink(ctx.db, principalOf(request).id, subscriptionId, linkId, publicUrl));
    },

    deleteMyFeedLink: async (request, reply) => {
      const { subscriptionId, linkId } = request.params as ByLink;
      await deleteFeedLink(ctx.db, { personId: principalOf(request).id }, subscriptionId, linkId);
      return reply.code(204).send();
    },
  };
}
