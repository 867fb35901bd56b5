import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NAME, NAME_FOR_ORDERS, ok, refused, SLOW, useCliServer } from './cli-world.js';

// The `proffer` command for push, capability feed links, deletion acknowledgements, public intents
// and offers, driven as a user drives it: spawned processes, real files, real exit statuses,
// against a real server on 127.0.0.1. (A file of its own so that it runs beside cli.test.ts.)

const world = useCliServer();
const { user, signedUpUser, registeredVendor, activeGrant } = world;

describe('push, feed links and deletion acknowledgements', { timeout: SLOW }, () => {
  it('sets a webhook (a generated secret printed once, a given one read from stdin), reads the feed by a link the person rotates and kills, and confirms a deletion', async () => {
    const { person, shop, id } = await activeGrant();

    /** The signing secret the server holds for the subscription's webhook. */
    const signingSecret = async () => (await world.server.ctx.db.selectFrom('webhooks').select('secret').where('subscription_id', '=', id).executeTakeFirst())?.secret;

    // A secret of one's own comes from stdin (never the command line), is used, and is not printed back.
    const own = `whsec_${Buffer.from('a webhook secret of 24+ bytes!!').toString('base64')}`;
    const given = ok(await shop.proffer(['vendor', 'webhook', 'set', id, 'http://127.0.0.1:9/proffer', '--secret-stdin'], `${own}\n`));
    expect(given.stdout).toMatch(new RegExp(`^Events of subscription ${id} are pushed to http://127\\.0\\.0\\.1:9/proffer \\(since \\S+\\)\\.\\n  waiting: {4}0 message\\(s\\)\\n`));
    expect(given.stdout).toMatch(/Deliveries are signed with the secret you gave\.\n$/);
    expect(given.stdout).not.toContain('whsec_');
    expect(await signingSecret()).toBe(own);
    const invalid = refused(await shop.proffer(['vendor', 'webhook', 'set', id, 'http://127.0.0.1:9/other', '--secret-stdin'], 'hunter2\n'), 1, /^proffer: The request body does not match the schema\.\n/);
    expect(invalid.stderr).toMatch(/^ {2}\/secret: /m);
    const replaced = ok(await shop.proffer(['vendor', 'webhook', 'set', id, 'http://127.0.0.1:9/other']));
    expect(replaced.stdout).toMatch(/Deliveries are signed with the secret it already had\.\n$/);
    expect(await signingSecret()).toBe(own);
    expect(JSON.parse(ok(await shop.proffer(['--json', 'vendor', 'webhook', 'show', id])).stdout)).toMatchObject({ subscription: id, url: 'http://127.0.0.1:9/other', delivery: { pending: 0 } });
    expect(ok(await shop.proffer(['vendor', 'webhook', 'delete', id])).stdout).toBe(`Nothing more is pushed for subscription ${id}.\n`);
    refused(await shop.proffer(['vendor', 'webhook', 'show', id]), 1, /^proffer: /);

    // Without one, a new webhook's generated secret is printed this once, and kept nowhere by the CLI.
    const generated = ok(await shop.proffer(['vendor', 'webhook', 'set', id, 'http://127.0.0.1:9/proffer']));
    const secret = /^Signing secret, shown only once \(check each delivery with it\): (whsec_\S+)\n$/m.exec(generated.stdout)?.[1];
    expect(secret).toBe(await signingSecret());
    const shown = ok(await shop.proffer(['vendor', 'webhook', 'show', id])).stdout;
    expect(shown).toContain('  delivered:  nothing yet\n');
    expect(shown).not.toContain('whsec_');
    expect(readFileSync(shop.env.PROFFER_CONFIG, 'utf8')).not.toContain('whsec_');

    // A feed link: its URL, printed once, reads the feed without a token until the person rotates it.
    const minted = ok(await shop.proffer(['vendor', 'feed-link', 'create', id])).stdout;
    expect(minted).toContain('The URL is shown only once, and anyone who has it reads the feed: keep it like a password.\n');
    const url = /^ {2}(http\S+\/v1\/feeds\/\S+)$/m.exec(minted)?.[1];
    const feed = await fetch(`${url}?format=json`);
    expect(feed.status).toBe(200);
    expect(await feed.text()).toContain('"given":"Ada"');
    const [link] = JSON.parse(ok(await person.proffer(['--json', 'subscriptions', 'feed-links', id])).stdout) as { id: string; live: boolean }[];
    expect(link).toMatchObject({ subscription: id, live: true, rotatedAt: null });
    expect(ok(await shop.proffer(['vendor', 'feed-link', 'list', id])).stdout).toMatch(new RegExp(`^${link!.id}  live {6}created \\S+\\n$`));
    const rotated = ok(await person.proffer(['subscriptions', 'rotate-link', id, link!.id])).stdout;
    expect(rotated).toContain("The old URL no longer works: pass this one on to the vendor's tool if it should keep reading.\n");
    const newUrl = /^ {2}(http\S+)$/m.exec(rotated)?.[1];
    expect(newUrl).not.toBe(url);
    expect((await fetch(url!)).status).toBe(404);
    expect((await fetch(newUrl!)).status).toBe(200);
    expect(ok(await shop.proffer(['vendor', 'feed-link', 'list', id])).stdout).toMatch(/, new URL \S+\n$/);
    expect(ok(await person.proffer(['subscriptions', 'delete-link', id, link!.id])).stdout).toBe(`Feed link ${link!.id} deleted: its URL no longer works.\n`);
    expect((await fetch(newUrl!)).status).toBe(404);
    const second = JSON.parse(ok(await shop.proffer(['--json', 'vendor', 'feed-link', 'create', id])).stdout) as { id: string; url: string };
    ok(await shop.proffer(['vendor', 'feed-link', 'delete', id, second.id]));
    expect((await fetch(second.url)).status).toBe(404);
    expect(ok(await shop.proffer(['vendor', 'feed-link', 'list', id])).stdout).toBe('No feed links.\n');

    // The revocation of an active grant asks the vendor (by the webhook's message too) to confirm it deleted what it held.
    expect(ok(await shop.proffer(['vendor', 'acknowledgements', id])).stdout).toBe('No deletion asked for.\n');
    ok(await person.proffer(['subscriptions', 'revoke', id]));
    const asked = ok(await shop.proffer(['vendor', 'acknowledgements', id])).stdout;
    const messageId = /^revocation {2}asked \S+ {2}due \S+ {2}waiting {2}fields: name {2}\((msg_\w+)\)\n$/.exec(asked)?.[1];
    expect(messageId, asked).toBeDefined();
    refused(await shop.proffer(['vendor', 'acknowledge', id]), 2, /^proffer: Which deletion\? Give --kind or --webhook-id/);
    refused(await shop.proffer(['vendor', 'acknowledge', id, '--kind', 'erasure']), 1, /^proffer: Nothing to acknowledge under this subscription/);
    expect(ok(await shop.proffer(['vendor', 'acknowledge', id, '--webhook-id', messageId!])).stdout).toMatch(/^Confirmed the deletion asked after the revocation \(name\) at \S+\.\n$/);
    expect(ok(await shop.proffer(['vendor', 'acknowledgements', id])).stdout).toMatch(/^revocation .* acknowledged \S+ {2}fields: name {2}\(msg_\w+\)\n$/);
    expect(ok(await person.proffer(['access-log'])).stdout).toMatch(/ {2}Velo Lyon {2}deletion-acknowledged {2}name /);
    refused(await shop.proffer(['vendor', 'feed-link', 'create', id]), 1, /^proffer: This subscription is revoked: no feed link can be made for it\.\n$/);
  });

  it("another vendor's subscription is refused with the problem; a person, or no one, logged in gets a clear usage error", async () => {
    const { person, shop, id } = await activeGrant();
    const link = JSON.parse(ok(await shop.proffer(['--json', 'vendor', 'feed-link', 'create', id])).stdout) as { id: string };
    const other = await registeredVendor('Another shop');
    refused(await other.proffer(['vendor', 'webhook', 'set', id, 'http://127.0.0.1:9/proffer']), 1, /^proffer: No subscription with this id\.\n$/);
    refused(await other.proffer(['vendor', 'feed-link', 'delete', id, link.id]), 1, /^proffer: No subscription with this id\.\n$/);
    const json = await other.proffer(['--json', 'vendor', 'feed-link', 'create', id]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toEqual({ error: 'No subscription with this id.', problem: { type: 'https://proffer.dev/problems/not-found', title: 'Not found', status: 404, detail: 'No subscription with this id.' } });
    const stranger = await signedUpUser();
    refused(await stranger.proffer(['subscriptions', 'rotate-link', id, link.id]), 1, /^proffer: No subscription with this id\.\n$/);
    refused(await stranger.proffer(['subscriptions', 'feed-links', id]), 1, /^proffer: No subscription with this id\.\n$/);
    expect(JSON.parse(ok(await shop.proffer(['--json', 'vendor', 'feed-link', 'list', id])).stdout)).toHaveLength(1); // untouched

    refused(await person.proffer(['vendor', 'webhook', 'show', id]), 2, /^proffer: Not logged in as a vendor: run `proffer vendor register` or `proffer login --vendor` first\.\n$/);
    const nobody = user();
    refused(await nobody.proffer(['vendor', 'offers']), 2, /^proffer: Not logged in as a vendor/);
    refused(await nobody.proffer(['vendor', 'feed-link', 'list', id]), 2, /^proffer: Not logged in as a vendor/);
    refused(await nobody.proffer(['needs', 'offers', randomUUID()]), 2, /^proffer: Not logged in as a person: run `proffer login <handle>` first\.\n$/);
    refused(await nobody.proffer(['subscriptions', 'delete-link', id, link.id]), 2, /^proffer: Not logged in as a person/);
  });
});

describe('public intents and offers', { timeout: SLOW }, () => {
  it('anyone browses public intents by filters; vendors offer from options or a file; the person accepts one, declines another; unknown offers are 404s', async () => {
    const person = await signedUpUser();
    ok(await person.proffer(['terms', 'set', person.file('terms.json', JSON.stringify(NAME_FOR_ORDERS))]));
    ok(await person.proffer(['profile', 'set', person.file('profile.json', JSON.stringify({ name: { given: 'Ada' }, birthDate: '1815-12-10' }))]));
    // A category of this test's own: the intent feed is every public need on the world.server.
    const category = `cli${randomBytes(4).toString('hex')}/bikes`;
    const need = JSON.parse(ok(await person.proffer(['--json', 'needs', 'add', '--title', 'A road bike', '--category', category, '--visibility', 'public', '--budget-max', '600', '--currency', 'EUR'])).stdout) as { id: string };

    const nobody = user(); // no login: the intent feed is public
    expect(ok(await nobody.proffer(['intents', '--category', category])).stdout).toMatch(new RegExp(`^[0-9a-f-]{36}  A road bike\\n  ${category} · budget up to 600 EUR\\n$`));
    const [intent] = JSON.parse(ok(await nobody.proffer(['--json', 'intents', '--category', category, '--currency', 'EUR', '--budget-max', '700'])).stdout) as { id: string; title: string }[];
    expect(intent).toMatchObject({ title: 'A road bike', category, offersUrl: `${world.base}/v1/intents/${intent!.id}/offers` });
    expect(JSON.stringify(intent)).not.toContain(person.handle);
    expect(ok(await nobody.proffer(['intents', '--category', category, '--currency', 'EUR', '--budget-min', '601'])).stdout).toBe('No public intents match.\n');
    expect(ok(await nobody.proffer(['intents', '--category', category, '--format', 'atom'])).stdout).toMatch(/<feed xmlns="http:\/\/www.w3.org\/2005\/Atom"[\s\S]*A road bike/);
    refused(await nobody.proffer(['intents', '--budget-min', 'cheap']), 2, /--budget-min must be a number, 0 or more; got "cheap"/);
    refused(await nobody.proffer(['intents', '--country', 'France']), 1, /^proffer: [\s\S]*country/);

    const shop = await registeredVendor('Velo Lyon');
    const offered = ok(await shop.proffer(['vendor', 'offer', intent!.id, '--message', 'A 54 cm road bike.', '--price', '550', '--currency', 'EUR', '--fields', 'name:fulfillment', '--duties', 'noThirdPartySharing'])).stdout;
    const offerId = new RegExp(`^([0-9a-f-]{36})  open  on intent ${intent!.id}  \\(550 EUR\\)\\n  message:  A 54 cm road bike\\.\\n  asks for: name \\(fulfillment, required\\)\\n$`).exec(offered)?.[1];
    expect(offerId, offered).toBeDefined();
    const rival = await registeredVendor('Cycles Rival');
    const offerFile = rival.file('offer.json', JSON.stringify({ message: 'A rival bike.', request: { fields: [NAME], accepts: { duties: { noThirdPartySharing: true } } } }));
    const rivalOffer = JSON.parse(ok(await rival.proffer(['--json', 'vendor', 'offer', intent!.id, offerFile])).stdout) as { id: string; status: string };
    expect(rivalOffer.status).toBe('open');
    refused(await rival.proffer(['vendor', 'offer', intent!.id, '--message', 'No fields.']), 2, /^proffer: Give a file, or at least --message and --fields\.\n$/);
    refused(await rival.proffer(['vendor', 'offer', intent!.id, '--message', 'x', '--fields', 'name']), 2, /--fields takes path:purpose pairs/);
    refused(await rival.proffer(['vendor', 'offer', intent!.id, offerFile, '--message', 'Another bike.']), 1, /^proffer: You already have an open offer on this intent/);
    expect(JSON.parse(ok(await shop.proffer(['--json', 'vendor', 'offers'])).stdout).map((o: { id: string }) => o.id)).toEqual([offerId]);

    const seen = ok(await person.proffer(['needs', 'offers', need.id])).stdout;
    expect(seen).toContain(`${rivalOffer.id}  open  Cycles Rival <https://velo-lyon.example>\n  message:  A rival bike.\n`);
    expect(seen).toContain(`${offerId}  open  Velo Lyon <https://velo-lyon.example>  (550 EUR)\n`);
    const accepted = ok(await person.proffer(['needs', 'accept-offer', need.id, offerId!])).stdout;
    const subscriptionId = /^Accepted Velo Lyon's offer: subscription ([0-9a-f-]{36}) is active\.\n$/.exec(accepted)?.[1];
    expect(subscriptionId, accepted).toBeDefined();
    expect(JSON.parse(ok(await shop.proffer(['vendor', 'profile', subscriptionId!])).stdout)).toEqual({ name: { given: 'Ada' } });
    expect(ok(await shop.proffer(['vendor', 'offers', '--status', 'accepted'])).stdout).toContain(`  made:     subscription ${subscriptionId} (active)\n`);
    expect(ok(await person.proffer(['needs', 'decline-offer', need.id, rivalOffer.id, '--reason', 'Found one, thanks.'])).stdout).toBe("Declined Cycles Rival's offer.\n");
    expect(ok(await rival.proffer(['vendor', 'offers'])).stdout).toMatch(/ {2}declined {2}on intent [\s\S]* {2}why: {6}Found one, thanks\.\n/);
    expect(ok(await person.proffer(['needs', 'offers', need.id, '--status', 'open'])).stdout).toBe('No offers.\n');

    refused(await person.proffer(['needs', 'accept-offer', need.id, randomUUID()]), 1, /^proffer: No offer with this id\.\n$/);
    const unknown = await person.proffer(['--json', 'needs', 'decline-offer', need.id, randomUUID()]);
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stderr)).toMatchObject({ error: 'No offer with this id.', problem: { status: 404, title: 'Not found' } });
    refused(await rival.proffer(['vendor', 'withdraw-offer', rivalOffer.id]), 1, /^proffer: This offer is declined: it cannot be withdrawn\.\n$/);
    // Declined, the rival may offer again, and withdraw that; another vendor cannot.
    // --price alone keeps the currency of the file's price.
    const pricedFile = rival.file('priced.json', JSON.stringify({ message: 'A rival bike.', price: { amount: 650, currency: 'EUR' }, request: { fields: [NAME] } }));
    refused(await rival.proffer(['vendor', 'offer', intent!.id, offerFile, '--price', '500']), 2, /^proffer: --price needs --currency\.\n$/);
    const again = JSON.parse(ok(await rival.proffer(['--json', 'vendor', 'offer', intent!.id, pricedFile, '--message', 'A better price.', '--price', '500'])).stdout) as { id: string };
    refused(await shop.proffer(['vendor', 'withdraw-offer', again.id]), 1, /^proffer: No offer with this id\.\n$/);
    expect(ok(await rival.proffer(['vendor', 'withdraw-offer', again.id])).stdout).toBe(`Withdrew offer ${again.id}.\n`);
    expect(JSON.parse(ok(await person.proffer(['--json', 'needs', 'offers', need.id, '--status', 'withdrawn'])).stdout)).toEqual([expect.objectContaining({ id: again.id, message: 'A better price.', price: { amount: 500, currency: 'EUR' } })]);
  });
});

