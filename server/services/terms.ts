import { sql, type Kysely } from 'kysely';
import {
  checkTerms,
  compileTerms,
  DEFAULT_TERMS,
  type CompiledTerms,
  type TermsInput,
} from '../../policies/index.js';
import type { Database } from '../db/schema.js';
import { ProblemError } from '../errors.js';
import { reevaluateGrants, type ReceiptSigner } from './subscriptions.js';

export interface StoredTerms extends TermsInput {
  version: number;
  createdAt: string;
}

type TermsRow = { version: number; document: Record<string, unknown>; created_at: Date };

const view = (row: TermsRow): StoredTerms => ({ ...(row.document as unknown as TermsInput), version: row.version, createdAt: row.created_at.toISOString() });

/** Version 1 of everyone's terms, written at sign-up in the same transaction as the account. */
export async function writeDefaultTerms(trx: Kysely<Database>, personId: string): Promise<void> {
  await trx.insertInto('terms').values({ person_id: personId, version: 1, document: JSON.stringify(DEFAULT_TERMS) }).execute();
}

export async function currentTerms(db: Kysely<Database>, personId: string): Promise<StoredTerms> {
  const row = await db
    .selectFrom('terms')
    .select(['version', 'document', 'created_at'])
    .where('person_id', '=', personId)
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst();
  // Only accounts made before terms existed lack a row; they are under the safe default.
  return row ? view(row) : { ...DEFAULT_TERMS, version: 0, createdAt: new Date(0).toISOString() };
}

/**
 * Writes a new version after the engine's own checks; refused terms change nothing, so the
 * version in force stays in force. Concurrent writers each get their own version number.
 */
export async function replaceTerms(db: Kysely<Database>, personId: string, input: TermsInput, signer: ReceiptSigner): Promise<StoredTerms> {
  const checked = checkTerms(input);
  if (!checked.ok) {
    const named = checked.errors.find((e) => e.rule !== null)?.rule;
    throw new ProblemError('invalid-terms', named ? `Rule "${named}" cannot be used: nothing was changed.` : 'These terms cannot be used: nothing was changed.', {
      errors: checked.errors.map((e) => ({ in: 'body' as const, pointer: e.pointer, message: e.message, ...(e.rule !== null ? { rule: e.rule } : {}) })),
    });
  }
  for (let attempt = 0; ; attempt++) {
    try {
      return await db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('terms')
          .columns(['person_id', 'version', 'document'])
          .expression(
            trx
              .selectFrom('terms')
              .select([
                sql<string>`${personId}::uuid`.as('person_id'),
                sql<number>`coalesce(max(version), 0) + 1`.as('version'),
                sql<string>`${JSON.stringify(input)}::jsonb`.as('document'),
              ])
              .where('person_id', '=', personId),
          )
          .returning(['version', 'document', 'created_at'])
          .executeTakeFirstOrThrow();
        const stored = view(row);
        // Every live grant is decided again under the new version, in the same transaction.
        await reevaluateGrants(trx, personId, compiledTerms(personId, stored), stored.version, signer);
        return stored;
      });
    } catch (error) {
      if ((error as { code?: string }).code !== '23505' || attempt >= 3) throw error;
    }
  }
}

export async function listTermsVersions(
  db: Kysely<Database>,
  personId: string,
  options: { limit: number; before?: number | undefined },
): Promise<{ items: StoredTerms[]; nextBefore: number | null }> {
  let query = db.selectFrom('terms').select(['version', 'document', 'created_at']).where('person_id', '=', personId);
  if (options.before !== undefined) query = query.where('version', '<', options.before);
  const rows = await query.orderBy('version', 'desc').limit(options.limit + 1).execute();
  const page = rows.slice(0, options.limit);
  return { items: page.map(view), nextBefore: rows.length > options.limit ? (page.at(-1)?.version ?? null) : null };
}

/** The person behind a public handle with their current terms; erased and unknown alike: undefined. */
export async function termsByHandle(db: Kysely<Database>, handle: string): Promise<{ personId: string; terms: StoredTerms } | undefined> {
  const person = await db.selectFrom('people').select('id').where(sql<string>`lower(handle)`, '=', handle.toLowerCase()).executeTakeFirst();
  if (!person) return undefined;
  return { personId: person.id, terms: await currentTerms(db, person.id) };
}

// Terms compile once per version: the compiled evaluator is reused until the person writes anew.
const COMPILED_LIMIT = 1000;
const compiled = new Map<string, CompiledTerms>();

export function compiledTerms(personId: string, terms: StoredTerms): CompiledTerms {
  const key = `${personId}:${terms.version}`;
  let entry = compiled.get(key);
  if (entry) {
    compiled.delete(key);
  } else {
    entry = compileTerms({ title: terms.title, rules: terms.rules } as TermsInput, terms.version);
    if (compiled.size >= COMPILED_LIMIT) compiled.delete(compiled.keys().next().value as string);
  }
  compiled.set(key, entry);
  return entry;
}
