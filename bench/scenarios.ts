// What is measured. A scenario names the server it runs against and the request it repeats;
// adding one is adding an entry here (and, if it needs state, a seeding helper in proffer-api.ts).
import { currentEtag, type BenchPerson, type BenchSubscription } from './proffer-api.js';

/** bare and bare-lookup are bench/baseline-server.ts; proffer is server/main.ts. */
export type ServerKind = 'bare' | 'bare-lookup' | 'proffer';

/** The scenarios every other one is divided by, measured in the same run on the same database. */
export const BASELINES = ['bare', 'bare-lookup'] as const;
/**
 * The ceiling measured a second time, after Proffer's scenarios, by a new baseline process. On a
 * shared machine one measurement can be squeezed by neighbours (and would flatter every ratio):
 * ratios to `bare-lookup` take the higher of the two (`ceilingOf` in report.ts).
 */
export const CEILING_AGAIN = 'bare-lookup-after';
/** Scenarios that always run, whatever --only says: the ratios need them. */
export const ALWAYS_RUN: readonly string[] = [...BASELINES, CEILING_AGAIN];

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
  /** proffer only: a vendor's active subscription to that person, seeded on first use. */
  subscription(): Promise<BenchSubscription>;
  /** proffer only: public needs of several people, seeded on first use. */
  intents(): Promise<void>;
  /** The server's base URL (for fetching an ETag to revalidate). */
  base: string;
}

/** What a scenario must reach on PostgreSQL (issue 5's performance targets), judged in the report. */
export interface Target {
  /** Requests per second at least this share of `bare-lookup`'s in the same run. */
  ratio: number;
  /** Latency p99 below this, in milliseconds. */
  p99Ms: number;
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
  /** The Content-Encoding the probe must get (absent: none, identity). */
  contentEncoding?: 'gzip';
  /** Judged on PostgreSQL only (PGlite runs every query on the server's own thread). */
  target?: Target;
  /** Called just before the scenario (so a token it logs in for is fresh). */
  request(ctx: ScenarioContext): RequestSpec | Promise<RequestSpec>;
}

/** A person's request: a fresh access token, plus the headers given. */
const asPerson = async (ctx: ScenarioContext, path: string, headers: Record<string, string> = {}): Promise<RequestSpec> => {
  const person = await ctx.person();
  return { path, headers: { authorization: await person.bearer(), ...headers } };
};

/** A vendor's request for its feed: a fresh vendor token, plus the headers given. */
const asVendor = async (ctx: ScenarioContext, query: string, headers: Record<string, string> = {}): Promise<RequestSpec> => {
  const subscription = await ctx.subscription();
  return { path: `/v1/subscriptions/${subscription.id}/feed${query}`, headers: { authorization: await subscription.bearer(), ...headers } };
};

/** The same request, revalidating: If-None-Match of the ETag the server gives for it right now. */
const revalidating = async (ctx: ScenarioContext, spec: RequestSpec): Promise<RequestSpec> => ({
  ...spec,
  headers: { ...spec.headers, 'if-none-match': await currentEtag(ctx.base, spec.path, spec.headers ?? {}) },
});

/**
 * Feeds are sent gzip-coded to clients that accept it. Every feed scenario says which it asks for
 * (fetch, which fetches the ETags to revalidate with, would otherwise ask for gzip by itself).
 * The targets judge the identity reads: autocannon turns every body into a string, which costs it
 * about five times as much per byte for compressed bytes as for text, on the cores the server
 * shares, so a gzip scenario's ratio says more about the load generator than about Proffer.
 */
const IDENTITY = { 'accept-encoding': 'identity' };
const GZIP = { 'accept-encoding': 'gzip' };

const FEED_200: Target = { ratio: 0.8, p99Ms: 25 };
const FEED_304: Target = { ratio: 0.9, p99Ms: 25 };

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
    name: 'my-feed-atom',
    server: 'proffer',
    about: 'GET /v1/me/feed?limit=20 (Atom) after 50 profile and need changes',
    contentType: /^application\/atom\+xml/,
    request: (ctx) => asPerson(ctx, '/v1/me/feed?limit=20'),
  },
  {
    name: 'vendor-atom',
    server: 'proffer',
    about: "GET /v1/subscriptions/{id}/feed (Atom, 20 entries, 38 KB) with the vendor's token, no gzip: live grant, redaction, render, access log",
    contentType: /^application\/atom\+xml/,
    target: FEED_200,
    request: (ctx) => asVendor(ctx, '', IDENTITY),
  },
  {
    name: 'vendor-atom-gzip',
    server: 'proffer',
    about: 'the same with Accept-Encoding: gzip, as feed readers and HTTP clients send it (4 KB; not judged: see docs/performance.md)',
    contentType: /^application\/atom\+xml/,
    contentEncoding: 'gzip',
    request: (ctx) => asVendor(ctx, '', GZIP),
  },
  {
    name: 'vendor-json',
    server: 'proffer',
    about: 'the same as JSON Feed 1.1 (?format=json), no gzip',
    contentType: /^application\/feed\+json/,
    target: FEED_200,
    request: (ctx) => asVendor(ctx, '?format=json', IDENTITY),
  },
  {
    name: 'vendor-json-gzip',
    server: 'proffer',
    about: 'JSON Feed with Accept-Encoding: gzip (not judged)',
    contentType: /^application\/feed\+json/,
    contentEncoding: 'gzip',
    request: (ctx) => asVendor(ctx, '?format=json', GZIP),
  },
  {
    name: 'vendor-atom-304',
    server: 'proffer',
    about: 'the Atom read revalidated with If-None-Match of its current ETag: 304, no body, not logged',
    status: 304,
    target: FEED_304,
    request: async (ctx) => revalidating(ctx, await asVendor(ctx, '', IDENTITY)),
  },
  {
    name: 'vendor-json-304',
    server: 'proffer',
    about: 'the JSON Feed read revalidated: 304',
    status: 304,
    target: FEED_304,
    request: async (ctx) => revalidating(ctx, await asVendor(ctx, '?format=json', IDENTITY)),
  },
  {
    name: 'intents-atom',
    server: 'proffer',
    about: 'GET /v1/intents (Atom, 20 a page of 63 open public needs of 6 people), no token',
    contentType: /^application\/atom\+xml/,
    request: async (ctx) => {
      await ctx.intents();
      return { path: '/v1/intents', headers: IDENTITY };
    },
  },
  {
    name: 'intents-304',
    server: 'proffer',
    about: 'the public intent feed revalidated with If-None-Match: 304',
    status: 304,
    request: async (ctx) => {
      await ctx.intents();
      return revalidating(ctx, { path: '/v1/intents', headers: IDENTITY });
    },
  },
  {
    name: CEILING_AGAIN,
    server: 'bare-lookup',
    about: 'bare-lookup again, by a new process after the Proffer scenarios: ratios use the higher of the two',
    contentType: /^application\/json/,
    request: (ctx) => ({ path: '/lookup', headers: { authorization: `Bearer ${ctx.baselineToken()}` } }),
  },
];
