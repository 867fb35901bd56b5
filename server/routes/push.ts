import type { AppContext } from '../context.js';
import type { AcknowledgementKind } from '../db/schema.js';
import { principalOf } from '../http/auth.js';
import type { Handlers } from '../http/bind.js';
import { acknowledge, listAcknowledgements } from '../services/acknowledgements.js';
import { deleteWebhook, getWebhook, putWebhook } from '../services/webhooks.js';

type ById = { subscriptionId: string };

/** Webhooks and acknowledgements of deletion (docs/webhooks.md). */
export function pushHandlers(ctx: AppContext): Handlers {
  const policy = { allowHttpLoopback: ctx.config.webhookAllowHttpLoopback };
  const settings = { publicUrl: ctx.config.publicUrl, deadlineSeconds: ctx.config.acknowledgementDeadlineSeconds };
  return {
    putWebhook: async (request, reply) => {
      const { subscriptionId } = request.params as ById;
      const input = request.body as { url: string; secret?: string };
      const { webhook, created } = await putWebhook(ctx.db, principalOf(request).id, subscriptionId, input, policy, settings);
      reply.header('cache-control', 'no-store');
      if (created) reply.code(201).header('location', `${ctx.config.publicUrl}/v1/subscriptions/${webhook.subscription}/webhook`);
      return reply.send(webhook);
    },

    getWebhook: async (request, reply) =>
      reply.send(await getWebhook(ctx.db, principalOf(request).id, (request.params as ById).subscriptionId)),

    deleteWebhook: async (request, reply) => {
      await deleteWebhook(ctx.db, principalOf(request).id, (request.params as ById).subscriptionId);
      return reply.code(204).send();
    },

    listAcknowledgements: async (request, reply) =>
      reply.send(await listAcknowledgements(ctx.db, principalOf(request).id, (request.params as ById).subscriptionId, settings)),

    acknowledgeDeletion: async (request, reply) => {
      const input = request.body as { kind?: AcknowledgementKind; webhookId?: string };
      const { acknowledgement, created } = await acknowledge(ctx.db, principalOf(request).id, (request.params as ById).subscriptionId, input, request.ip, settings);
      return reply.code(created ? 201 : 200).send(acknowledgement);
    },
  };
}
