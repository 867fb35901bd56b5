// Getting a Proffer server into the state a scenario reads, through its public API only.

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
}

export const BENCH_PASSWORD = 'correct horse battery staple';

/** One HTTP call, bounded in time; anything but the expected status is an error. */
export async function call(
  base: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; json?: unknown; expect?: number } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.json !== undefined) headers['content-type'] ??= 'application/json';
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(options.json === undefined ? {} : { body: JSON.stringify(options.json) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  const expect = options.expect ?? 200;
  if (response.status !== expect) throw new Error(`${method} ${path} answered ${response.status}, not ${expect}: ${text.slice(0, 500)}`);
  return { status: response.status, headers: response.headers, text };
}

/** A realistic profile: 16 fields (an address counting as one), as a person would fill it in. */
export const BENCH_PROFILE = {
  name: { given: 'Ada', family: 'Lovelace' },
  emails: { personal: 'ada@example.org', work: 'ada@analytical.example' },
  phones: { mobile: '+44 20 7946 0000' },
  addresses: {
    home: { lines: ["12 St James's Square"], locality: 'London', postalCode: 'SW1Y 4JH', country: 'GB' },
  },
  birthDate: '1815-12-10',
  locale: 'en-GB',
  preferences: {
    sizes: { shoe: 'EU 38', shirt: 'M' },
    diet: ['vegetarian'],
    contactChannels: ['email', 'post'],
    language: 'en',
    currency: 'GBP',
  },
  custom: { 'favourite-engine': 'analytical', newsletter: false },
};

const CATEGORIES = ['sports/cycling', 'books', 'home/furniture', 'food/groceries', 'travel'];

/** A person of the benchmark: signed up, profile set, 50 changes in their feed. */
export interface BenchPerson {
  handle: string;
  /** ETag of the current profile's JSON representation. */
  profileEtag: string;
  /** Logs in afresh: an access token that lives PROFFER_ACCESS_TOKEN_TTL from now. */
  bearer(): Promise<string>;
}

export async function seedPerson(base: string, options: { changes?: number } = {}): Promise<BenchPerson> {
  const handle = `bench-${process.pid}-${Date.now().toString(36)}`;
  await call(base, 'POST', '/v1/people', { json: { handle, password: BENCH_PASSWORD, displayName: 'Ada' }, expect: 201 });
  const bearer = async () => {
    const { text } = await call(base, 'POST', '/v1/token', { json: { grant_type: 'password', username: handle, password: BENCH_PASSWORD } });
    return `Bearer ${(JSON.parse(text) as { access_token: string }).access_token}`;
  };
  const auth = { authorization: await bearer() };
  await call(base, 'PUT', '/v1/me/profile', { headers: auth, json: BENCH_PROFILE });

  // Half profile changes, half need changes (15 new needs, then 10 of them fulfilled).
  const needIds: string[] = [];
  const merge = { ...auth, 'content-type': 'application/merge-patch+json' };
  const changes = options.changes ?? 50;
  for (let i = 0; i < changes; i++) {
    if (i % 2 === 0) {
      const patch = i % 4 === 0 ? { emails: { work: `ada.${i}@analytical.example` } } : { custom: { 'last-campaign': `spring-${i}` } };
      await call(base, 'PATCH', '/v1/me/profile', { headers: merge, json: patch });
      continue;
    }
    const k = (i - 1) / 2;
    if (k < 15) {
      const { text } = await call(base, 'POST', '/v1/me/needs', {
        headers: auth,
        expect: 201,
        json: {
          title: `Need number ${k}: a second-hand item in good condition`,
          description: 'Collected in person or delivered; photos welcome. Happy to pay a fair price.',
          category: CATEGORIES[k % CATEGORIES.length],
          quantity: 1 + (k % 3),
          budget: { max: 100 + 10 * k, currency: 'EUR' },
          location: { locality: 'Lyon', country: 'FR' },
          wantedBy: '2027-03-01',
          visibility: k % 2 === 0 ? 'public' : 'subscribers',
        },
      });
      needIds.push((JSON.parse(text) as { id: string }).id);
    } else {
      const id = needIds[(k - 15) % needIds.length] as string;
      await call(base, 'PATCH', `/v1/me/needs/${id}`, { headers: merge, json: { status: 'fulfilled' } });
    }
  }
  const profile = await call(base, 'GET', '/v1/me/profile', { headers: auth });
  const profileEtag = profile.headers.get('etag');
  if (!profileEtag) throw new Error('GET /v1/me/profile answered no ETag');
  return { handle, profileEtag, bearer };
}

/** The categories of the benchmark person's needs that the vendor's grant covers (3 of the 5). */
const GRANTED_CATEGORIES = ['sports/cycling', 'books', 'home'];

/** A vendor subscribed to the benchmark person, as a shop would be: a grant of part of the profile and needs. */
export interface BenchSubscription {
  id: string;
  /** Logs the vendor in afresh (client credentials): a token that lives PROFFER_ACCESS_TOKEN_TTL from now. */
  bearer(): Promise<string>;
}

/**
 * The person's terms permit contact details, addresses, preferences and three need categories to
 * any vendor, automatically; a vendor registers and subscribes to them (active at once). Of the
 * person's 51 events (the profile, then 50 changes) the grant covers 29 (the profile, 13 of the 25
 * profile changes, 15 of the 25 need changes), so a page of 20 entries skips about one event in
 * three, as a real feed would.
 */
export async function seedSubscription(base: string, person: BenchPerson): Promise<BenchSubscription> {
  const personAuth = { authorization: await person.bearer() };
  const { text: termsText } = await call(base, 'PUT', '/v1/me/terms', {
    headers: personAuth,
    json: {
      title: 'Shops may have what delivery takes',
      rules: [{ id: 'shops', effect: 'permit', fields: ['name', 'emails', 'addresses', 'preferences'], needs: { categories: GRANTED_CATEGORIES } }],
    },
  });
  const termsVersion = (JSON.parse(termsText) as { version: number }).version;

  const { text: vendorText } = await call(base, 'POST', '/v1/vendors', {
    json: { name: 'Velo Lyon', homepage: 'https://velo-lyon.example', contact: 'privacy@velo-lyon.example' },
    expect: 201,
  });
  const { client_id, client_secret } = JSON.parse(vendorText) as { client_id: string; client_secret: string };
  const bearer = async () => {
    const { text } = await call(base, 'POST', '/v1/token', { json: { grant_type: 'client_credentials', client_id, client_secret } });
    return `Bearer ${(JSON.parse(text) as { access_token: string }).access_token}`;
  };
  const fields = ['name', 'emails', 'addresses', 'preferences'].map((path) => ({ path, purpose: 'fulfillment', required: true, retentionDays: 90 }));
  const { text } = await call(base, 'POST', '/v1/subscriptions', {
    headers: { authorization: await bearer() },
    expect: 201,
    json: {
      person: person.handle,
      fields,
      needs: { categories: GRANTED_CATEGORIES, purpose: 'offers', retentionDays: 90 },
      accepts: { termsVersion, duties: { noThirdPartySharing: true, noProfiling: true, deleteOnRevoke: true } },
    },
  });
  const subscription = JSON.parse(text) as { id: string; status: string };
  if (subscription.status !== 'active') throw new Error(`the benchmark subscription is ${subscription.status}, not active`);
  return { id: subscription.id, bearer };
}

/** Public open needs of several people, for the public intent feed: `people` × `perPerson` intents. */
export async function seedIntents(base: string, options: { people?: number; perPerson?: number } = {}): Promise<void> {
  const people = options.people ?? 5;
  const perPerson = options.perPerson ?? 12;
  for (let n = 0; n < people; n++) {
    const handle = `bench-intents-${process.pid}-${Date.now().toString(36)}-${n}`;
    await call(base, 'POST', '/v1/people', { json: { handle, password: BENCH_PASSWORD }, expect: 201 });
    const { text } = await call(base, 'POST', '/v1/token', { json: { grant_type: 'password', username: handle, password: BENCH_PASSWORD } });
    const auth = { authorization: `Bearer ${(JSON.parse(text) as { access_token: string }).access_token}` };
    for (let k = 0; k < perPerson; k++) {
      await call(base, 'POST', '/v1/me/needs', {
        headers: auth,
        expect: 201,
        json: {
          title: `Looking for item ${n}-${k}: good condition, fair price`,
          description: 'Collected in person or delivered; photos welcome.',
          category: CATEGORIES[(n + k) % CATEGORIES.length],
          quantity: 1 + (k % 3),
          budget: { min: 10 * k, max: 100 + 10 * k, currency: 'EUR' },
          location: { locality: k % 2 === 0 ? 'Lyon' : 'Paris', country: 'FR' },
          wantedBy: '2099-03-01',
          visibility: 'public',
        },
      });
    }
  }
}

/** The ETag a conditional request would send: the one of the current representation. */
export async function currentEtag(base: string, path: string, headers: Record<string, string>): Promise<string> {
  const response = await call(base, 'GET', path, { headers });
  const etag = response.headers.get('etag');
  if (!etag) throw new Error(`GET ${path} answered no ETag`);
  return etag;
}
