// What is measured. A scenario names the server it runs against and the request it repeats;
// adding one is adding an entry here (and, if it needs state, a seeding helper in proffer-api.ts).
import type { BenchPerson } from './proffer-api.js';

/** bare and bare-lookup are bench/baseline-server.ts; proffer is server/main.ts. */
export type ServerKind = 'bare' | 'bare-lookup' | 'proffer';

/** The scenarios every other one is divided by, measured in the same run on the same database. */
export const BASELINES = ['bare', 'bare-lookup'] as const;

export interface RequestSpec {
  path: string;
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
}

export interface ScenarioContext {
  /** bare-lookup only: the token its server signed for one live grant. */
  baselineToken(): string;
  /** proffer only: the benchmark's person, seeded on first use once per server process. */
  person(): Promise<BenchPerson>;
}

export interface Scenario {
  name: string;
  server: ServerKind;
  /** One line for --help and docs/performance.md. */
  about: string;
  /** The status every response must have (default 200); anything else fails the run. */
  status?: number;
  /** Checked on one probe request before the load: the right representation is being measured. */
  contentType?: RegExp;
  /** Called just before the scenario (so a token it logs in for is fresh). */
  request(ctx: ScenarioContext): RequestSpec | Promise<RequestSpec>;
}

/** A person's request: a fresh access token, plus the headers given. */
const asPerson = async (ctx: ScenarioContext, path: string, headers: Record<string, string> = {}): Promise<RequestSpec> => {
  const person = await ctx.person();
  return { path, headers: { authorization: await person.bearer(), ...headers } };
};

export const SCENARIOS: Scenario[] = [
  {
    name: 'bare',
    server: 'bare',
    about: 'bare fastify, one route answering a fixed small JSON body: the most this machine does per request',
    contentType: /^application\/json/,
    request: () => ({ path: '/bare' }),
  },
  {
    name: 'bare-lookup',
    server: 'bare-lookup',
    about: 'bare fastify verifying an HS256 JWT (@fastify/jwt) and one prepared primary-key lookup: the ceiling of a read that checks a live grant',
    contentType: /^application\/json/,
    request: (ctx) => ({ path: '/lookup', headers: { authorization: `Bearer ${ctx.baselineToken()}` } }),
  },
  {
    name: 'healthz',
    server: 'proffer',
    about: 'GET /healthz: Proffer\'s whole request pipeline, no database, no token',
    contentType: /^application\/json/,
    request: () => ({ path: '/healthz' }),
  },
  {
    name: 'profile-json',
    server: 'proffer',
    about: 'GET /v1/me/profile as JSON with a bearer token: token, session check, profile read',
    contentType: /^application\/json/,
    request: (ctx) => asPerson(ctx, '/v1/me/profile'),
  },
  {
    name: 'profile-xml',
    server: 'proffer',
    about: 'the same with Accept: application/xml (adds the XML rendering)',
    contentType: /^application\/xml/,
    request: (ctx) => asPerson(ctx, '/v1/me/profile', { accept: 'application/xml' }),
  },
  {
    name: 'profile-304',
    server: 'proffer',
    about: 'the same with If-None-Match of the current ETag: 304, no body',
    status: 304,
    request: async (ctx) => asPerson(ctx, '/v1/me/profile', { 'if-none-match': (await ctx.person()).profileEtag }),
  },
  {
    name: 'feed-atom',
    server: 'proffer',
    about: 'GET /v1/me/feed?limit=20 (Atom) after 50 profile and need changes',
    contentType: /^application\/atom\+xml/,
    request: (ctx) => asPerson(ctx, '/v1/me/feed?limit=20'),
  },
];
