// The baseline every figure is divided by: a bare fastify app with nothing of Proffer in it.
//   GET /bare    a fixed small JSON body (the most a fastify route can do here)
//   GET /lookup  verifies an HS256 JWT with @fastify/jwt, as Proffer does, then one prepared
//                primary-key lookup of a live grant: the ceiling for any read that checks a grant.
// Environment: PORT; BASELINE_DB = none | pglite | postgres; BASELINE_PGLITE_DIR (pglite) or
// DATABASE_URL (postgres, may carry ?options=-c search_path=…); BENCH_WATCH_STDIN=1 to end when
// stdin closes (the runner's pipe: a runner that dies takes its baseline with it).
// Prints one line when ready: {"ready":true,"port":…,"token":"…"} (the token is for /lookup).
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import fastifyJwt from '@fastify/jwt';
import Fastify from 'fastify';
import pg from 'pg';

const BODY = { status: 'ok' } as const;
const AUDIENCE = 'proffer-api';
const GRANTS = 1000;

const CREATE = `create table if not exists grants (
  id uuid primary key, subject uuid not null, expires_at timestamptz not null, revoked_at timestamptz)`;
const SEED = `insert into grants (id, subject, expires_at)
  select gen_random_uuid(), gen_random_uuid(), now() + interval '1 day' from generate_series(1, ${GRANTS})`;
/** The same shape as Proffer's session check: primary key, owner, not revoked, not expired. */
const LOOKUP = 'select id from grants where id = $1 and subject = $2 and revoked_at is null and expires_at > now()';

interface Store {
  /** Creates and fills the table; answers one live grant to sign a token for. */
  setup(): Promise<{ id: string; subject: string }>;
  isLive(id: string, subject: string): Promise<boolean>;
  close(): Promise<void>;
}

function postgresStore(url: string): Store {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', (error) => console.error(`baseline: pool error: ${error.message}`));
  return {
    setup: async () => {
      await pool.query(CREATE);
      await pool.query(SEED);
      await pool.query('analyze grants');
      const { rows } = await pool.query<{ id: string; subject: string }>('select id, subject from grants limit 1');
      if (!rows[0]) throw new Error('no grant');
      return rows[0];
    },
    // A named statement: parsed and planned once per connection, then only bound and executed.
    isLive: async (id, subject) => (await pool.query({ name: 'grant-live', text: LOOKUP, values: [id, subject] })).rowCount === 1,
    close: () => pool.end(),
  };
}

async function pgliteStore(dataDir: string): Promise<Store> {
  const db = await PGlite.create({ dataDir });
  return {
    setup: async () => {
      await db.exec(`${CREATE}; ${SEED}; analyze grants;`);
      const { rows } = await db.query<{ id: string; subject: string }>('select id, subject from grants limit 1');
      if (!rows[0]) throw new Error('no grant');
      return rows[0];
    },
    isLive: async (id, subject) => (await db.query(LOOKUP, [id, subject])).rows.length === 1,
    close: () => db.close(),
  };
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 0);
  const mode = process.env.BASELINE_DB ?? 'none';
  const issuer = `http://127.0.0.1:${port}`;

  let store: Store | undefined;
  if (mode === 'postgres') {
    if (!process.env.DATABASE_URL) throw new Error('BASELINE_DB=postgres needs DATABASE_URL');
    store = postgresStore(process.env.DATABASE_URL);
  } else if (mode === 'pglite') {
    if (!process.env.BASELINE_PGLITE_DIR) throw new Error('BASELINE_DB=pglite needs BASELINE_PGLITE_DIR');
    store = await pgliteStore(process.env.BASELINE_PGLITE_DIR);
  } else if (mode !== 'none') {
    throw new Error(`BASELINE_DB must be none, pglite or postgres, got "${mode}"`);
  }

  const app = Fastify({ logger: false });
  app.get('/bare', async () => BODY);

  let token = '';
  if (store) {
    const live = store;
    await app.register(fastifyJwt, {
      secret: randomBytes(32).toString('base64url'),
      sign: { algorithm: 'HS256', iss: issuer, aud: AUDIENCE, expiresIn: '3600s' },
      verify: {
        algorithms: ['HS256'],
        allowedIss: issuer,
        allowedAud: AUDIENCE,
        requiredClaims: ['exp', 'iat', 'sub', 'aud', 'iss'],
        clockTolerance: 30_000,
      },
    });
    app.get('/lookup', async (request, reply) => {
      const match = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(request.headers.authorization ?? '');
      if (!match?.[1]) return reply.code(401).send({ status: 'unauthorized' });
      let claims: { sub: string; sid: string };
      try {
        claims = app.jwt.verify<{ sub: string; sid: string }>(match[1]);
      } catch {
        return reply.code(401).send({ status: 'unauthorized' });
      }
      if (!(await live.isLive(claims.sid, claims.sub))) return reply.code(401).send({ status: 'revoked' });
      return BODY;
    });
    const grant = await live.setup();
    await app.ready();
    token = app.jwt.sign({ sub: grant.subject, kind: 'person', sid: grant.id });
  }

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await app.close();
    await store?.close();
    process.exit(0);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void stop());
  if (process.env.BENCH_WATCH_STDIN === '1') {
    process.stdin.on('end', () => void stop());
    process.stdin.on('error', () => void stop());
    process.stdin.resume();
  }

  await app.listen({ host: '127.0.0.1', port });
  const address = app.server.address();
  console.log(JSON.stringify({ ready: true, port: typeof address === 'object' && address ? address.port : port, token }));
}

main().catch((error: unknown) => {
  console.error('baseline: could not start:', error);
  process.exit(1);
});
