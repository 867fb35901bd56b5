// `npm run bench:terms`: the terms engine alone, in this process, on one core: evaluations per
// second of a realistic 20-rule terms document against a 10-field request, and redactions per
// second of a 30-field profile. Bounded: a warm-up, then a fixed measuring time per case.
// See docs/performance.md ("Terms engine").
//   npm run bench:terms -- --seconds 5 --warmup 2 --json terms.json
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import {
  compileTerms,
  evaluate,
  grantedPaths,
  leafPaths,
  redact,
  type Evaluation,
  type TermsInput,
  type VendorRequest,
} from '../policies/index.js';

const SHOP = { id: '0b6f7c1e-4a53-4d8e-9a43-5c2f0f0d2a11', homepage: 'https://www.velo-lyon.example/' };

/** Twenty rules of the kinds people write: refusals, vendor-specific rules, purposes, duties, needs. */
export const TERMS: TermsInput = {
  title: 'Mine',
  rules: [
    { id: 'never-marketing', effect: 'deny', fields: ['*'], needs: { categories: ['*'] }, purposes: ['marketing'] },
    { id: 'no-research', effect: 'deny', fields: ['birthDate', 'phones'], purposes: ['research', 'analytics'] },
    { id: 'not-work-address', effect: 'deny', fields: ['addresses.work'], purposes: ['personalization', 'offers'] },
    { id: 'block-data-broker', effect: 'deny', fields: ['*'], vendors: { domains: ['broker.example', 'adtech.example'] } },
    { id: 'block-ex-employer', effect: 'deny', fields: ['*'], vendors: { ids: ['5d1c9a70-2f4e-4b7e-8a39-0c6a1f3b9e22'] } },
    {
      id: 'ship-orders',
      effect: 'permit',
      fields: ['name', 'addresses.home', 'addresses.*.country', 'phones.mobile'],
      purposes: ['fulfillment', 'delivery'],
      duties: { maxRetentionDays: 90, noThirdPartySharing: true, deleteOnRevoke: true },
    },
    { id: 'pay', effect: 'permit', fields: ['name', 'addresses.billing'], purposes: ['payment'], duties: { maxRetentionDays: 3650, noThirdPartySharing: true } },
    { id: 'contact', effect: 'permit', fields: ['emails.personal', 'preferences.contactChannels'], purposes: ['support', 'account', 'fulfillment'], duties: { deleteOnRevoke: true } },
    { id: 'sizes', effect: 'permit', fields: ['preferences.sizes', 'preferences.diet'], purposes: ['personalization', 'fulfillment'], duties: { noProfiling: true } },
    { id: 'locale', effect: 'permit', fields: ['locale', 'preferences.language', 'preferences.currency'], duties: { maxRetentionDays: 365 } },
    { id: 'bike-shop', effect: 'permit', fields: ['custom.frame-size', 'custom.bike-type'], vendors: { domains: ['velo-lyon.example'] }, purposes: ['offers', 'personalization'] },
    { id: 'bike-needs', effect: 'permit', needs: { categories: ['sports/cycling', 'sports/outdoor'] }, vendors: { domains: ['velo-lyon.example'] }, purposes: ['offers'] },
    { id: 'favourite-grocer', effect: 'permit', fields: ['preferences', 'addresses.home'], vendors: { ids: ['9f0e8d7c-6b5a-4321-8fed-cba987654321'] }, duties: { grantExpiryDays: 365 } },
    { id: 'fraud-checks', effect: 'permit', fields: ['name', 'emails.personal'], purposes: ['fraud-prevention'], duties: { maxRetentionDays: 180 }, approval: 'ask' },
    { id: 'invoices', effect: 'permit', fields: ['name', 'addresses.billing'], purposes: ['legal-compliance'], duties: { maxRetentionDays: 3650 } },
    { id: 'birthday', effect: 'permit', fields: ['birthDate'], purposes: ['account'], approval: 'ask', duties: { noThirdPartySharing: true } },
    { id: 'books', effect: 'permit', needs: { categories: ['books', 'media/*'] }, purposes: ['offers'], duties: { grantExpiryDays: 90, maxReadsPerDay: 24 } },
    { id: 'home-needs', effect: 'permit', needs: { categories: ['home'] }, approval: 'ask' },
    { id: 'ask-for-custom', effect: 'permit', fields: ['custom'], approval: 'ask', duties: { noProfiling: true } },
    { id: 'ask-for-the-rest', effect: 'permit', fields: ['*'], needs: { categories: ['*'] }, approval: 'ask' },
  ],
};

/** A bike shop's subscription request: ten fields, most granted, some asked, one refused. */
export const REQUEST: VendorRequest = {
  fields: [
    { path: 'name', purpose: 'fulfillment', required: true, retentionDays: 90 },
    { path: 'addresses.home', purpose: 'delivery', required: true, retentionDays: 90 },
    { path: 'addresses.*.country', purpose: 'delivery', required: true, retentionDays: 30 },
    { path: 'phones.mobile', purpose: 'delivery', required: false, retentionDays: 30 },
    { path: 'emails.personal', purpose: 'support', required: true, retentionDays: 365 },
    { path: 'preferences.sizes', purpose: 'personalization', required: false, retentionDays: 365 },
    { path: 'custom.frame-size', purpose: 'offers', required: false, retentionDays: 365 },
    { path: 'locale', purpose: 'support', required: false, retentionDays: 30 },
    { path: 'birthDate', purpose: 'account', required: false, retentionDays: 365 },
    { path: 'emails.personal', purpose: 'marketing', required: false, retentionDays: 365 },
  ],
  accepts: { termsVersion: 3, duties: { noThirdPartySharing: true, noProfiling: true, deleteOnRevoke: true } },
};

/** Thirty leaves (scalars and arrays). */
export const PROFILE = {
  name: { prefix: 'Ms', given: 'Ada', middle: 'King', family: 'Lovelace', nickname: 'Ada' },
  emails: { personal: 'ada@example.org', work: 'ada@analytical.example' },
  phones: { mobile: '+44 20 7946 0000', home: '+44 20 7946 0001' },
  addresses: {
    home: { lines: ["12 St James's Square"], locality: 'London', postalCode: 'SW1Y 4JH', country: 'GB' },
    work: { lines: ['Analytical Engine Works'], locality: 'London', country: 'GB' },
    billing: { lines: ['PO Box 1815'], locality: 'London', country: 'GB' },
  },
  birthDate: '1815-12-10',
  locale: 'en-GB',
  preferences: {
    sizes: { shoe: 'EU 38', frame: '54' },
    diet: ['vegetarian'],
    contactChannels: ['email', 'post'],
    language: 'en',
    currency: 'GBP',
  },
  custom: { 'frame-size': '54', 'bike-type': 'road', newsletter: false },
};

interface Figure {
  name: string;
  opsPerSecond: number;
  operations: number;
  seconds: number;
}

/** Runs `fn` for `warmup` seconds unmeasured, then counts calls for `seconds` (checked every batch). */
function measure(name: string, fn: () => unknown, warmup: number, seconds: number): Figure {
  const batch = 1000;
  let sink = 0;
  const run = (limit: number) => {
    let operations = 0;
    const start = performance.now();
    const end = start + limit * 1000;
    let now = start;
    while (now < end) {
      for (let i = 0; i < batch; i++) sink ^= (fn() as object) === null ? 1 : 0;
      operations += batch;
      now = performance.now();
    }
    return { operations, elapsed: (now - start) / 1000 };
  };
  run(warmup);
  const { operations, elapsed } = run(seconds);
  if (sink === -1) console.log(sink); // keeps the results alive
  return { name, opsPerSecond: operations / elapsed, operations, seconds: elapsed };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log('Usage: npm run bench:terms -- [--seconds 3] [--warmup 1] [--json file]');
    return;
  }
  const seconds = Number(values.seconds);
  const warmup = Number(values.warmup);
  if (!(seconds > 0 && seconds <= 60 && warmup >= 0 && warmup <= 60)) throw new Error('--seconds is 0 to 60 (exclusive of 0), --warmup 0 to 60');

  const compiled = compileTerms(TERMS, 3);
  const evaluation: Evaluation = evaluate(compiled, REQUEST, SHOP);
  const granted = grantedPaths(evaluation, { includeAsk: true });
  const leaves = leafPaths(PROFILE).length;
  if (TERMS.rules.length !== 20 || REQUEST.fields.length !== 10 || leaves !== 30) throw new Error('the benchmark documents changed shape');
  const decided = evaluation.fields.map((f) => f.decision[0]).join('');

  console.log(`terms engine: ${TERMS.rules.length} rules, ${REQUEST.fields.length}-field request (${decided}: ${evaluation.outcome}), ${leaves}-field profile, ${granted.length} granted paths`);
  const load = loadavg()[0] ?? 0;
  console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, load ${load.toFixed(2)}, warm-up ${warmup} s, ${seconds} s each`);

  const figures = [
    measure('evaluate', () => evaluate(compiled, REQUEST, SHOP), warmup, seconds),
    measure('redact', () => redact(PROFILE, granted), warmup, seconds),
    measure('compile', () => compileTerms(TERMS, 3), warmup, seconds),
  ];
  console.log(`load average at the end: ${(loadavg()[0] ?? 0).toFixed(2)} (other work on the machine slows these figures)`);
  for (const f of figures) {
    console.log(`${f.name.padEnd(9)} ${Math.round(f.opsPerSecond).toLocaleString('en-US').padStart(12)} /s   ${(1e6 / f.opsPerSecond).toFixed(2).padStart(8)} µs each`);
  }
  if (values.json) {
    writeFileSync(values.json, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, loadAverage: load, warmup, seconds, figures }, null, 2)}\n`);
  }
}

main();
