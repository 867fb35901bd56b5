import type { ValidateFunction } from 'ajv';
import type { Kysely } from 'kysely';
import { changedPaths } from '../../policies/index.js';
import type { Database } from '../db/schema.js';
import { ProblemError } from '../errors.js';
import { assertValid } from '../validation.js';
import { recordEvent } from './events.js';
import { applyMergePatch } from './merge-patch.js';

export type ProfileDocument = Record<string, unknown>;

export interface StoredProfile {
  document: ProfileDocument;
  /** 0 until the first change. */
  version: number;
  updatedAt: Date | null;
}

export async function getProfile(db: Kysely<Database>, personId: string): Promise<StoredProfile> {
  const row = await db.selectFrom('profiles').select(['document', 'version', 'updated_at']).where('person_id', '=', personId).executeTakeFirst();
  return row ? { document: row.document, version: row.version, updatedAt: row.updated_at } : { document: {}, version: 0, updatedAt: null };
}

export interface ProfileChange {
  personId: string;
  /** The version the client last saw (from If-Match), if it asked for optimistic concurrency. */
  expectedVersion?: number | undefined;
  /** Produces the new document from the current one; may throw a validation problem. */
  change: (current: ProfileDocument) => ProfileDocument;
}

/**
 * Applies a change under a row lock, so concurrent writers serialize and each version number is
 * given out once. An unchanged document keeps its version and records nothing.
 */
export async function changeProfile(db: Kysely<Database>, input: ProfileChange): Promise<StoredProfile> {
  return db.transaction().execute(async (trx) => {
    await trx
      .insertInto('profiles')
      .values({ person_id: input.personId, document: '{}', version: 0, updated_at: new Date(0) })
      .onConflict((oc) => oc.column('person_id').doNothing())
      .execute();
    const current = await trx
      .selectFrom('profiles')
      .select(['document', 'version', 'updated_at'])
      .where('person_id', '=', input.personId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (input.expectedVersion !== undefined && input.expectedVersion !== current.version) {
      throw new ProblemError(
        'precondition-failed',
        `The profile has changed since version ${input.expectedVersion}; it is now at version ${current.version}.`,
      );
    }
    const next = input.change(current.document);
    const changed = changedPaths(current.document, next);
    if (changed.length === 0) {
      return { document: current.document, version: current.version, updatedAt: current.version ? current.updated_at : null };
    }
    const version = current.version + 1;
    const now = new Date();
    await trx
      .updateTable('profiles')
      .set({ document: JSON.stringify(next), version, updated_at: now })
      .where('person_id', '=', input.personId)
      .execute();
    await recordEvent(trx, {
      personId: input.personId,
      kind: 'profile.updated',
      subject: 'profile',
      version,
      at: now,
      data: { changed, profile: next },
    });
    return { document: next, version, updatedAt: now };
  });
}

export const replaceWith = (document: ProfileDocument) => () => document;

export const mergeWith =
  (patch: Record<string, unknown>, validateProfile: ValidateFunction) =>
  (current: ProfileDocument): ProfileDocument => {
    const next = applyMergePatch(current, patch);
    assertValid<ProfileDocument>(validateProfile, next, 'body', 'The patched profile would not be valid.');
    return next;
  };
