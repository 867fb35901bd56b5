import { redact } from '../../policies/index.js';
import type { AppContext } from '../context.js';
import type { SubscriptionStatus } from '../db/schema.js';
import { principalOf } from '../http/auth.js';
import type { Handlers } from '../http/bind.js';
import { negotiatedType, sendDocument } from '../http/respond.js';
import { BIGINT_DIGITS, decodeSerialCursor, encodeSerialCursor } from '../services/cursors.js';
import {
  accessLog,
  approveSubscription,
  endSubscription,
  listReceipts,
  listSubscriptions,
  readGrantedProfile,
  rejectSubscription,
  requestSubscription,
  revokeSubscription,
  subscriptionForPerson,
  subscriptionForVendor,
  type SubscriptionRequestBody,
} from '../services/subscriptions.js';

type ById = { subscriptionId: string };
type ListQuery = { limit: number; cursor?: string; status?: SubscriptionStatus };

export function subscriptionHandlers(ctx: AppContext): Handlers {
  const signer = { keys: ctx.receiptKeys, issuer: ctx.config.publicUrl };
  const erasure = { publicUrl: ctx.config.publicUrl, deadlineSeconds: ctx.config.acknowledgementDeadlineSeconds };
  return {
    requestSubscription: async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const { subscription, replayed } = await requestSubscription(
        ctx.db,
        principalOf(request).id,
        request.body as SubscriptionRequestBody,
        typeof key === 'string' ? key : undefined,
        signer,
      );
      if (!replayed) reply.code(201).header('location', `${ctx.config.publicUrl}/v1/subscriptions/${subscription.id}`);
      return reply.send(subscription);
    },

    listSubscriptions: async (request, reply) =>
      reply.send(await listSubscriptions(ctx.db, { vendorId: principalOf(request).id }, request.query as ListQuery)),

    getSubscription: async (request, reply) =>
      // An erased person's subscription answers 410 person-erased, with the acknowledgement asked.
      reply.send(await subscriptionForVendor(ctx.db, principalOf(request).id, (request.params as ById).subscriptionId, erasure)),

    endSubscription: async (request, reply) =>
      reply.send(await endSubscription(ctx.db, principalOf(request).id, (request.params as ById).subscriptionId, signer)),

    readSubscriptionProfile: async (request, reply) => {
      const type = negotiatedType(ctx, request, 'readSubscriptionProfile');
      const profile = await readGrantedProfile(ctx.db, principalOf(request).id, (request.params as ById).subscriptionId, request.ip, redact, signer, erasure);
      reply.header('cache-control', 'private, no-store');
      return sendDocument(ctx, request, reply, 'readSubscriptionProfile', profile, { type });
    },

    listMySubscriptions: async (request, reply) =>
      reply.send(await listSubscriptions(ctx.db, { personId: principalOf(request).id }, request.query as ListQuery)),

    getMySubscription: async (request, reply) =>
      reply.send(await subscriptionForPerson(ctx.db, principalOf(request).id, (request.params as ById).subscriptionId)),

    approveSubscription: async (request, reply) => {
      const approval = (request.body ?? {}) as { fields?: string[]; purposes?: string[] };
      return reply.send(await approveSubscription(ctx.db, principalOf(request).id, (request.params as ById).subscriptionId, approval, signer));
    },

    rejectSubscription: async (request, reply) => {
      const { reason } = (request.body ?? {}) as { reason?: string };
      return reply.send(await rejectSubscription(ctx.db, principalOf(request).id, (request.params as ById).subscriptionId, reason));
    },

    revokeSubscription: async (request, reply) => {
      const { reason } = (request.body ?? {}) as { reason?: string };
      return reply.send(await revokeSubscription(ctx.db, principalOf(request).id, (request.params as ById).subscriptionId, reason, signer));
    },

    listReceipts: async (request, reply) =>
      reply.send(await listReceipts(ctx.db, principalOf(request).id, request.query as { limit: number; cursor?: string })),

    getAccessLog: async (request, reply) => {
      const query = request.query as { limit: number; cursor?: string; vendor?: string; subscription?: string };
      const page = await accessLog(ctx.db, principalOf(request).id, {
        limit: query.limit,
        before: query.cursor === undefined ? undefined : decodeSerialCursor('a', query.cursor, BIGINT_DIGITS),
        vendor: query.vendor,
        subscription: query.subscription,
      });
      return reply.send({ items: page.items, next: page.nextBefore === null ? null : encodeSerialCursor('a', page.nextBefore) });
    },
  };
}
