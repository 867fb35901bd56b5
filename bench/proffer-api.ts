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
