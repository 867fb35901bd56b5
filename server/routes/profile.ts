import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { ProblemError } from '../errors.js';
import { principalOf } from '../http/auth.js';
import { matchesIfNoneMatch } from '../http/conditional.js';
import type { Handlers } from '../http/bind.js';
import { negotiatedType, sendDocument } from '../http/respond.js';
import { changeProfile, getProfile, mergeWith, replaceWith, type ProfileDocument, type StoredProfile } from '../services/profile.js';

/** Strong ETags per representation: `"7.json"`, `"7.xml"`. */
const etag = (version: number, type: string) => `"${version}.${type === 'application/xml' ? 'xml' : 'json'}"`;

function expectedVersion(request: FastifyRequest): number | undefined {
  const header = request.headers['if-match'];
  if (header === undefined || header.trim() === '*') return undefined;
  const versions = header.split(',').map((tag) => /^\s*"(\d+)\.(?:json|xml)"\s*$/.exec(tag)?.[1]);
  const version = versions.find((v) => v !== undefined);
  if (version === undefined) throw new ProblemError('precondition-failed', `If-Match ${header} names no version of this profile.`);
  return Number(version);
}

export function profileHandlers(ctx: AppContext): Handlers {
  const answer = (request: FastifyRequest, reply: Parameters<NonNullable<Handlers['getProfile']>>[1], stored: StoredProfile, type: string) => {
    reply.header('etag', etag(stored.version, type)).header('profile-version', String(stored.version)).header('cache-control', 'private, no-cache');
    if (stored.updatedAt) reply.header('last-modified', stored.updatedAt.toUTCString());
    return sendDocument(ctx, request, reply, 'getProfile', stored.document, { type });
  };

  return {
    getProfile: async (request, reply) => {
      const type = negotiatedType(ctx, request, 'getProfile');
      const stored = await getProfile(ctx.db, principalOf(request).id);
      const ifNoneMatch = request.headers['if-none-match'];
      const tag = etag(stored.version, type);
      if (ifNoneMatch && matchesIfNoneMatch(ifNoneMatch, tag)) {
        return reply.code(304).header('etag', tag).send();
      }
      return answer(request, reply, stored, type);
    },

    replaceProfile: async (request, reply) => {
      const type = negotiatedType(ctx, request, 'replaceProfile');
      const stored = await changeProfile(ctx.db, {
        personId: principalOf(request).id,
        expectedVersion: expectedVersion(request),
        change: replaceWith(request.body as ProfileDocument),
      });
      return answer(request, reply, stored, type);
    },

    patchProfile: async (request, reply) => {
      const type = negotiatedType(ctx, request, 'patchProfile');
      const stored = await changeProfile(ctx.db, {
        personId: principalOf(request).id,
        expectedVersion: expectedVersion(request),
        change: mergeWith(request.body as Record<string, unknown>, ctx.validators.profile),
      });
      return answer(request, reply, stored, type);
    },
  };
}
