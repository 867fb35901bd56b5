import type { FastifyRequest } from 'fastify';
import { evaluate, publicTerms, TEMPLATES, toOdrl, type TermsInput, type VendorRequest } from '../../policies/index.js';
import type { AppContext } from '../context.js';
import { notFound } from '../errors.js';
import { principalOf } from '../http/auth.js';
import type { Handlers } from '../http/bind.js';
import { chooseMediaType } from '../http/negotiate.js';
import { decodeSerialCursor, encodeSerialCursor, INTEGER_DIGITS } from '../services/cursors.js';
import { compiledTerms, currentTerms, listTermsVersions, replaceTerms, termsByHandle } from '../services/terms.js';

/** A vendor no rule names: matches only rules for any vendor (`.invalid` is never a real domain). */
const UNNAMED_VENDOR = { id: '00000000-0000-0000-0000-000000000000', homepage: 'https://unnamed-vendor.invalid' };

export function termsHandlers(ctx: AppContext): Handlers {
  const byHandle = async (request: FastifyRequest) => {
    const { handle } = request.params as { handle: string };
    const found = await termsByHandle(ctx.db, handle);
    // Unknown and erased handles are answered alike: a handle's past existence is nobody's business.
    if (!found) throw notFound('No public terms for this handle.');
    return { handle, ...found };
  };

  return {
    getTerms: async (request, reply) => reply.send(await currentTerms(ctx.db, principalOf(request).id)),

    replaceTerms: async (request, reply) =>
      reply.send(await replaceTerms(ctx.db, principalOf(request).id, request.body as TermsInput, { keys: ctx.receiptKeys, issuer: ctx.config.publicUrl })),

    listTermsVersions: async (request, reply) => {
      const query = request.query as { limit: number; cursor?: string };
      const before = query.cursor === undefined ? undefined : Number(decodeSerialCursor('v', query.cursor, INTEGER_DIGITS));
      const page = await listTermsVersions(ctx.db, principalOf(request).id, { limit: query.limit, before });
      return reply.send({ items: page.items, next: page.nextBefore === null ? null : encodeSerialCursor('v', page.nextBefore) });
    },

    evaluateTerms: async (request, reply) => {
      const personId = principalOf(request).id;
      const body = request.body as { request: VendorRequest; vendor?: { id?: string; homepage: string } };
      const terms = await currentTerms(ctx.db, personId);
      const vendor = body.vendor ? { id: body.vendor.id ?? UNNAMED_VENDOR.id, homepage: body.vendor.homepage } : UNNAMED_VENDOR;
      return reply.send(evaluate(compiledTerms(personId, terms), body.request, vendor));
    },

    listTermsTemplates: async (_request, reply) => reply.header('cache-control', 'public, max-age=3600').send({ items: TEMPLATES }),

    getPublicTerms: async (request, reply) => {
      const { format } = request.query as { format?: 'json' | 'odrl' };
      const type = format === 'odrl' ? 'application/ld+json' : format === 'json' ? 'application/json' : chooseMediaType(request, ['application/json', 'application/ld+json']);
      const { handle, terms } = await byHandle(request);
      const offered = publicTerms({ title: terms.title, rules: terms.rules } as TermsInput, terms.version);
      reply.header('vary', 'Accept').header('cache-control', 'public, max-age=60');
      if (type === 'application/json') return reply.type('application/json').send(offered);
      const self = `${ctx.config.publicUrl}/v1/people/${handle}`;
      return reply.type('application/ld+json').send(toOdrl(offered, { uid: `${self}/terms?format=odrl`, assigner: self }));
    },

    previewTerms: async (request, reply) => {
      const { personId, terms } = await byHandle(request);
      let vendor = UNNAMED_VENDOR;
      if (request.principal) {
        const row = await ctx.db.selectFrom('vendors').select(['id', 'homepage']).where('id', '=', request.principal.id).executeTakeFirst();
        if (row) vendor = row;
      }
      return reply.send(evaluate(compiledTerms(personId, terms), request.body as VendorRequest, vendor));
    },
  };
}
