import type { AppContext } from '../context.js';
import { principalOf } from '../http/auth.js';
import type { Handlers } from '../http/bind.js';
import { negotiatedType, sendDocument } from '../http/respond.js';
import { createNeed, deleteNeed, getNeed, listNeeds, patchNeed, type NeedInput, type NeedStatus } from '../services/needs.js';

type NeedParams = { needId: string };

export function needHandlers(ctx: AppContext): Handlers {
  return {
    listNeeds: async (request, reply) => {
      const query = request.query as { limit: number; cursor?: string; status?: NeedStatus };
      const page = await listNeeds(ctx.db, principalOf(request).id, query);
      return sendDocument(ctx, request, reply, 'listNeeds', page);
    },

    createNeed: async (request, reply) => {
      const type = negotiatedType(ctx, request, 'createNeed');
      const key = request.headers['idempotency-key'];
      const { need, replayed } = await createNeed(ctx.db, principalOf(request).id, request.body as NeedInput, typeof key === 'string' ? key : undefined);
      if (replayed) return sendDocument(ctx, request, reply, 'createNeed', need, { status: 200, type });
      reply.header('location', `${ctx.config.publicUrl}/v1/me/needs/${need.id}`);
      return sendDocument(ctx, request, reply, 'createNeed', need, { status: 201, type });
    },

    getNeed: async (request, reply) => {
      const { needId } = request.params as NeedParams;
      return sendDocument(ctx, request, reply, 'getNeed', await getNeed(ctx.db, principalOf(request).id, needId));
    },

    patchNeed: async (request, reply) => {
      const { needId } = request.params as NeedParams;
      const type = negotiatedType(ctx, request, 'patchNeed');
      const need = await patchNeed(ctx.db, principalOf(request).id, needId, request.body as Record<string, unknown>, ctx.validators.needInput);
      return sendDocument(ctx, request, reply, 'patchNeed', need, { type });
    },

    deleteNeed: async (request, reply) => {
      const { needId } = request.params as NeedParams;
      await deleteNeed(ctx.db, principalOf(request).id, needId);
      return reply.code(204).send();
    },
  };
}
