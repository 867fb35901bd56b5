import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { DataDirLockedError, openDatabase, type DatabaseHandle } from '../../server/db/database.js';

// These tests are about the embedded database itself, so they open their own PGlite whichever
// database the rest of the suite runs on.
const template = () => new Blob([readFileSync(inject('pgliteTemplate'))]);
const needsTemplate = !process.env.DATABASE_URL;

async function openEmbedded(): Promise<DatabaseHandle> {
  if (needsTemplate) return openDatabase({ loadDataDir: template() });
  const { migrateToLatest } = await import('../../server/db/database.js');
  const handle = await openDatabase({});
  await migrateToLatest(handle.db);
  return handle;
}

describe('one serialized connection', () => {
  let handle: DatabaseHandle;
  beforeAll(async () => {
    handle = await openEmbedded();
  });
  afterAll(() => handle?.close());

  it("never runs a concurrent query inside another request's transaction", async () => {
    const { db } = handle;
    let releaseTransaction!: () => void;
    const holding = new Promise<void>((resolve) => (releaseTransaction = resolve));
    let inserted!: () => void;
    const didInsert = new Promise<void>((resolve) => (inserted = resolve));

    // Request A: writes inside a transaction, waits, then fails and rolls back.
    const requestA = db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('server_secrets').values({ name: 'uncommitted', value: 'x' }).execute();
        inserted();
        await holding;
        throw new Error('roll back');
      })
      .catch((error: Error) => error.message);

    await didInsert;
    // Request B, meanwhile: a plain write and a read. Run inside A's transaction they would
    // see A's row and vanish with A's rollback.
    const requestB = (async () => {
      await db.insertInto('server_secrets').values({ name: 'committed', value: 'y' }).execute();
      return db.selectFrom('server_secrets').select('name').where('name', 'in', ['uncommitted', 'committed']).execute();
    })();
    releaseTransaction();

    expect(await requestA).toBe('roll back');
    expect((await requestB).map((r) => r.name)).toEqual(['committed']);
    const after = await db.selectFrom('server_secrets').select('name').where('name', 'in', ['uncommitted', 'committed']).execute();
    expect(after.map((r) => r.name)).toEqual(['committed']);
  });

  it('keeps working after a failed query and under many concurrent transactions', async () => {
    const { db } = handle;
    await expect(sql`select * from no_such_table`.execute(db)).rejects.toThrow();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        db.transaction().execute(async (trx) => {
          await trx.insertInto('server_secrets').values({ name: `concurrent-${i}`, value: String(i) }).execute();
          const row = await trx.selectFrom('server_secrets').select('value').where('name', '=', `concurrent-${i}`).executeTakeFirstOrThrow();
          expect(row.value).toBe(String(i));
        }),
      ),
    );
    const count = await db.selectFrom('server_secrets').select((eb) => eb.fn.countAll<string>().as('n')).where('name', 'like', 'concurrent-%').executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(50);
  });
});

describe('the data folder', () => {
  it('is locked against a second process and released on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'proffer-lock-'));
    try {
      const first = await openDatabase({ dataDir: dir });
      await expect(openDatabase({ dataDir: dir })).rejects.toBeInstanceOf(DataDirLockedError);
      await first.close();
      const again = await openDatabase({ dataDir: dir });
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('planner statistics', () => {
  it('ANALYZE gives the planner real table sizes, so person-scoped reads use the indexes', async () => {
    const handle = await openEmbedded();
    try {
      const { db } = handle;
      const people = Array.from({ length: 40 }, (_, i) => ({ id: crypto.randomUUID(), handle: `stats-${i}`, password_hash: 'x' }));
      await db.insertInto('people').values(people).execute();
      const now = new Date();
      const needs = people.flatMap((p) =>
        Array.from({ length: 50 }, () => ({
          person_id: p.id,
          id: crypto.randomUUID(),
          document: JSON.stringify({ title: 't', category: 'c' }),
          status: 'open' as const,
          visibility: 'subscribers' as const,
          category: 'c',
          version: 1,
          created_at: now,
          updated_at: now,
        })),
      );
      for (let i = 0; i < needs.length; i += 500) await db.insertInto('needs').values(needs.slice(i, i + 500)).execute();
      await handle.analyze();
      const stats = await sql<{ reltuples: number }>`select reltuples from pg_class where relname = 'needs'`.execute(db);
      expect(Number(stats.rows[0]?.reltuples)).toBeGreaterThan(1000);
      const plan = await sql<{ 'QUERY PLAN': string }>`
        explain select * from needs where person_id = ${people[0]?.id} order by created_at desc, id desc limit 21`.execute(db);
      const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(text).toMatch(/Index (Only )?Scan|Bitmap Index Scan/);
      expect(text).not.toMatch(/Seq Scan on needs/);
    } finally {
      await handle.close();
    }
  });
});
