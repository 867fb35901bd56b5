import { InvalidArgumentError, type Command } from 'commander';
import { allPages } from '../../sdk/index.js';
import type { Acknowledgement, AcknowledgementInput, FeedFormat, JsonFeed, OfferInput, OfferStatus, SubscriptionRequest, SubscriptionStatus, Webhook } from '../../sdk/index.js';
import type { Cli } from '../context.js';
import { UsageError } from '../errors.js';
import { readJsonObject } from '../files.js';
import { feedFormat, list, nonNegative, offerStatus, OFFER_STATUSES, oneOf } from '../options.js';
import { feedLinkActions, issuedFeedLinkLines, offerLines, subscriptionLines, type Action } from './person.js';

/** Where `vendor webhook set` takes a signing secret from when not piped in (never the command line). */
const WEBHOOK_SECRET_ENV = 'PROFFER_WEBHOOK_SECRET';
const ACKNOWLEDGEMENT_KINDS = ['revocation', 'erasure'] as const satisfies readonly Acknowledgement['kind'][];

function seconds(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0.1 || number > 86_400) throw new InvalidArgumentError(`--interval must be a number of seconds between 0.1 and 86400; got "${value}".`);
  return number;
}

/** `name:fulfillment,addresses.home:delivery` → the fields an offer asks for, by path and purpose. */
function fieldPurposes(value: string): [path: string, purpose: string][] {
  return list(value).map((pair) => {
    const [path, purpose, ...rest] = pair.split(':');
    if (!path || !purpose || rest.length) throw new InvalidArgumentError(`--fields takes path:purpose pairs, e.g. name:fulfillment,addresses.home:delivery; got "${pair}".`);
    return [path, purpose];
  });
}

function webhookLines(webhook: Webhook): string[] {
  const { delivery } = webhook;
  return [
    `Events of subscription ${webhook.subscription} are pushed to ${webhook.url} (since ${webhook.createdAt}).`,
    `  waiting:    ${delivery.pending} message(s)${delivery.attempts ? `, ${delivery.attempts} failed attempt(s) at the oldest` : ''}`,
    `  delivered:  ${delivery.lastDeliveredAt ?? 'nothing yet'}`,
    ...(delivery.nextAttemptAt ? [`  next try:   ${delivery.nextAttemptAt}`] : []),
    ...(delivery.lastError ? [`  last error: ${delivery.lastError}`] : []),
  ];
}

const acknowledgementLine = (asked: Acknowledgement) =>
  `${asked.kind.padEnd(10)}  asked ${asked.requestedAt}  due ${asked.dueBy}  ${asked.acknowledgedAt ? `acknowledged ${asked.acknowledgedAt}` : asked.overdue ? 'OVERDUE' : 'waiting'}  fields: ${asked.fields.join(', ')}${asked.webhookId ? `  (${asked.webhookId})` : ''}`;

type FeedItem = JsonFeed['items'][number];
const itemLine = (item: FeedItem) => `${item.date_modified ?? item.date_published ?? ''}  ${item.title ?? item.id}`;

export function registerVendorCommands(program: Command, action: Action): void {
  const vendor = program.command('vendor').description('For vendors: register, ask people for fields, read what they grant.');

  vendor
    .command('register')
    .description('Register a vendor and log in as it (its client secret is kept in your configuration file).')
    .requiredOption('--name <name>', 'the name people see')
    .requiredOption('--homepage <url>', 'https://…')
    .requiredOption('--contact <email>', "where people's privacy questions go")
    .action(
      action(async (cli: Cli, options: { name: string; homepage: string; contact: string }) => {
        const credentials = await cli.proffer.registerVendor(options);
        const client = await cli.proffer.loginVendor(credentials.client_id, credentials.client_secret);
        cli.updateConfig((config) => {
          config.server = cli.server;
          config.vendor = { server: cli.server, id: credentials.id, name: credentials.name, clientId: credentials.client_id, clientSecret: credentials.client_secret, ...client.tokens };
        });
        cli.print(credentials, [
          `Registered ${credentials.name} (vendor ${credentials.id}) and logged in.`,
          `Client id: ${credentials.client_id}. The client secret is shown only once: it is saved in ${cli.configPath}.`,
        ]);
      }),
    );

  vendor
    .command('request')
    .description('Ask a person for fields, instead of a registration form.')
    .argument('<form>', 'form.json: {"person": handle, "fields": [...], "accepts": {"duties": {...}}}; accepts.termsVersion defaults to the current one')
    .option('--idempotency-key <key>', 'the same key on a retry answers the first subscription instead of making a second')
    .action(
      action(async (cli: Cli, file: string, options: { idempotencyKey?: string }) => {
        const form = readJsonObject(file);
        if (typeof form.person !== 'string') throw new UsageError(`${file} must name the person: "person": "<handle>".`);
        const client = cli.vendor();
        const accepts = (typeof form.accepts === 'object' && form.accepts !== null ? form.accepts : {}) as Record<string, unknown>;
        // A form names the terms version it was written against; without one, ask against the current terms.
        if (accepts.termsVersion === undefined) accepts.termsVersion = (await client.publicTerms(form.person)).version;
        if (accepts.duties === undefined) accepts.duties = {};
        const subscription = await client.requestSubscription({ ...form, accepts } as SubscriptionRequest, options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {});
        cli.print(subscription, () => [...subscriptionLines(subscription), ...subscription.decision.explanation.map((line) => `  ${line}`)]);
      }),
    );

  vendor
    .command('subscriptions')
    .description("Your subscriptions, newest first.")
    .option('--status <status>', 'pending, active, rejected, revoked, ended or expired')
    .action(
      action(async (cli: Cli, options: { status?: SubscriptionStatus }) => {
        const { items } = await cli.vendor().listSubscriptions({ limit: 100, ...(options.status ? { status: options.status } : {}) });
        cli.print(items, items.length ? items.flatMap(subscriptionLines) : 'No subscriptions.');
      }),
    );

  vendor
    .command('profile')
    .description('Read the granted fields of the person’s profile (the filled-in form).')
    .argument('<subscription>', 'the subscription id')
    .option('--xml', 'as Proffer XML')
    .action(
      action(async (cli: Cli, id: string, options: { xml?: boolean }) => {
        const client = cli.vendor();
        if (options.xml) process.stdout.write(`${(await client.readProfileXml(id)).trimEnd()}\n`);
        else process.stdout.write(`${JSON.stringify(await client.readProfile(id), null, 2)}\n`);
      }),
    );

  vendor
    .command('feed')
    .description('Read the person’s events under a subscription, or --watch them (polling, revalidated with the ETag).')
    .argument('<subscription>', 'the subscription id')
    .option('--format <format>', 'atom (default), rss or json', feedFormat)
    .option('--watch', 'keep polling; print each new entry as it arrives (one JSON line each with --json)')
    .option('--interval <seconds>', 'seconds between polls with --watch', seconds, 30)
    .action(
      action(async (cli: Cli, id: string, options: { format?: FeedFormat; watch?: boolean; interval: number }) => {
        const client = cli.vendor();
        if (!options.watch) {
          const page = await client.readFeed(id, { format: options.format ?? (cli.json ? 'json' : 'atom') });
          if (!page.notModified) process.stdout.write(page.text.endsWith('\n') ? page.text : `${page.text}\n`);
          return;
        }
        // Watching reads the JSON Feed and prints entries not seen before, oldest first.
        const seen = new Set<string>();
        const stop = new AbortController();
        process.once('SIGINT', () => stop.abort());
        process.once('SIGTERM', () => stop.abort());
        cli.note(`Watching subscription ${id} every ${options.interval} s (Ctrl-C to stop).`);
        for await (const page of client.watchFeed(id, { format: 'json', intervalMs: options.interval * 1000, signal: stop.signal })) {
          const fresh = (page.feed?.items ?? []).filter((item) => !seen.has(item.id)).reverse();
          for (const item of fresh) {
            seen.add(item.id);
            process.stdout.write(cli.json ? `${JSON.stringify(item)}\n` : `${itemLine(item)}\n`);
          }
        }
      }),
    );

  vendor
    .command('end')
    .description('End a subscription yourself: nothing more can be read under it.')
    .argument('<subscription>', 'the subscription id')
    .action(
      action(async (cli: Cli, id: string) => {
        const ended = await cli.vendor().endSubscription(id);
        cli.print(ended, `Ended subscription ${ended.id}.`);
      }),
    );

  // --- push: webhook and deletion acknowledgements ---
  const webhook = vendor.command('webhook').description("Push a subscription's events to your https endpoint, signed (Standard Webhooks).");
  webhook
    .command('set')
    .description('Register (or replace) the endpoint. Without a secret, a new webhook gets a generated one, printed this once.')
    .argument('<subscription>', 'the subscription id')
    .argument('<url>', 'https://… (public addresses only)')
    .option('--secret-stdin', `read your own signing secret (whsec_…) from standard input (else $${WEBHOOK_SECRET_ENV}, else one is generated)`)
    .action(
      action(async (cli: Cli, id: string, url: string, options: { secretStdin?: boolean }) => {
        const client = cli.vendor();
        const secret = options.secretStdin ? await cli.secret('webhook secret', { fromStdin: true, envName: WEBHOOK_SECRET_ENV }) : cli.env[WEBHOOK_SECRET_ENV];
        const registered = await client.setWebhook(id, { url, ...(secret ? { secret } : {}) });
        cli.print(registered, () => [
          ...webhookLines(registered),
          registered.secret
            ? `Signing secret, shown only once (check each delivery with it): ${registered.secret}`
            : secret
              ? 'Deliveries are signed with the secret you gave.'
              : 'Deliveries are signed with the secret it already had.',
        ]);
      }),
    );
  webhook
    .command('show')
    .description('The endpoint and how deliveries go (waiting messages, failed attempts, last error); never the secret.')
    .argument('<subscription>', 'the subscription id')
    .action(
      action(async (cli: Cli, id: string) => {
        const current = await cli.vendor().getWebhook(id);
        cli.print(current, () => webhookLines(current));
      }),
    );
  webhook
    .command('delete')
    .description('Stop pushing; messages not yet delivered are dropped.')
    .argument('<subscription>', 'the subscription id')
    .action(
      action(async (cli: Cli, id: string) => {
        await cli.vendor().deleteWebhook(id);
        cli.print({ deleted: id }, `Nothing more is pushed for subscription ${id}.`);
      }),
    );

  vendor
    .command('acknowledgements')
    .description('The deletions you are asked to confirm under a subscription (after a revocation or an erasure), and whether you did.')
    .argument('<subscription>', 'the subscription id')
    .action(
      action(async (cli: Cli, id: string) => {
        const asked = await cli.vendor().acknowledgements(id);
        cli.print(asked, asked.length ? asked.map(acknowledgementLine) : 'No deletion asked for.');
      }),
    );
  vendor
    .command('acknowledge')
    .description('Confirm you deleted what you held, by the asking message (--webhook-id) or its --kind.')
    .argument('<subscription>', 'the subscription id')
    .option('--kind <kind>', ACKNOWLEDGEMENT_KINDS.join(' or '), oneOf(ACKNOWLEDGEMENT_KINDS, '--kind'))
    .option('--webhook-id <id>', 'the webhook-id header of the message that asked (msg_…)')
    .action(
      action(async (cli: Cli, id: string, options: AcknowledgementInput) => {
        if (!options.kind && !options.webhookId) throw new UsageError('Which deletion? Give --kind or --webhook-id (see `proffer vendor acknowledgements <subscription>`).');
        const acknowledged = await cli.vendor().acknowledgeDeletion(id, options);
        cli.print(acknowledged, `Confirmed the deletion asked after the ${acknowledged.kind} (${acknowledged.fields.join(', ')}) at ${acknowledged.acknowledgedAt}.`);
      }),
    );

  // --- capability feed links ---
  const vendorFeedLinks = feedLinkActions((cli) => cli.vendor());
  const feedLink = vendor.command('feed-link').description("URLs that serve a subscription's feed without a token, for feed readers and other tools that can only poll a URL.");
  feedLink
    .command('create')
    .description('Mint a feed link for an active subscription; its URL is printed this once.')
    .argument('<subscription>', 'the subscription id')
    .action(
      action(async (cli: Cli, id: string) => {
        const minted = await cli.vendor().createFeedLink(id);
        cli.print(minted, issuedFeedLinkLines(minted));
      }),
    );
  feedLink
    .command('list')
    .description("A subscription's feed links (never their URLs).")
    .argument('<subscription>', 'the subscription id')
    .action(action(vendorFeedLinks.list));
  feedLink
    .command('delete')
    .description('Delete a feed link: its URL stops working at once.')
    .argument('<subscription>', 'the subscription id')
    .argument('<link>', 'the feed link id')
    .action(action(vendorFeedLinks.delete));

  // --- offers on public intents ---
  vendor
    .command('offer')
    .description('Answer a public intent with an offer, from a JSON file or from options (options win).')
    .argument('<intent>', 'the intent id (see `proffer intents`)')
    .argument('[file]', 'offer.json: {"message", "price": {"amount", "currency"}, "validUntil", "request": {"fields": [...], "accepts": {"duties": {...}}}}')
    .option('--message <text>', 'what you offer')
    .option('--price <amount>', 'your price, with --currency', nonNegative('--price'))
    .option('--currency <code>', 'ISO 4217, e.g. EUR')
    .option('--valid-until <time>', 'the offer lapses after this (ISO 8601, e.g. 2027-01-31T23:59:59Z)')
    .option('--fields <path:purpose,...>', 'what accepting would grant you, each required, e.g. name:fulfillment,addresses.home:delivery', fieldPurposes)
    .option('--retention-days <days>', 'how long you keep what you read, with --fields', nonNegative('--retention-days'), 30)
    .option('--duties <duties>', 'the duties you accept: noThirdPartySharing, noProfiling, deleteOnRevoke (comma-separated)', list)
    .action(
      action(
        async (
          cli: Cli,
          intentId: string,
          file: string | undefined,
          options: { message?: string; price?: number; currency?: string; validUntil?: string; fields?: [string, string][]; retentionDays: number; duties?: string[] },
        ) => {
          const fromFile = file ? readJsonObject(file) : {};
          // --price alone keeps the file's currency, if it gives one.
          const currency = options.currency ?? (fromFile.price as { currency?: string } | undefined)?.currency;
          if (options.price !== undefined && !currency) throw new UsageError('--price needs --currency.');
          const request = { ...(fromFile.request as OfferInput['request'] | undefined) };
          if (options.fields) request.fields = options.fields.map(([path, purpose]) => ({ path, purpose, required: true, retentionDays: options.retentionDays }) as OfferInput['request']['fields'][number]);
          if (options.duties) request.accepts = { duties: Object.fromEntries(options.duties.map((duty) => [duty, true])) };
          const offer = {
            ...fromFile,
            ...(options.message ? { message: options.message } : {}),
            ...(options.price !== undefined ? { price: { amount: options.price, currency } } : {}),
            ...(options.validUntil ? { validUntil: options.validUntil } : {}),
            request,
          } as OfferInput;
          if (!offer.message || !request.fields) throw new UsageError('Give a file, or at least --message and --fields.');
          const made = await cli.vendor().createOffer(intentId, offer);
          cli.print(made, () => offerLines(made));
        },
      ),
    );
  vendor
    .command('offers')
    .description('Your offers, newest first: their status, and the subscription an accepted one made.')
    .option('--status <status>', OFFER_STATUSES.join(', '), offerStatus)
    .action(
      action(async (cli: Cli, options: { status?: OfferStatus }) => {
        const client = cli.vendor();
        const offers = await allPages((paging) => client.listOffers({ ...paging, ...(options.status ? { status: options.status } : {}) }));
        cli.print(offers, offers.length ? offers.flatMap(offerLines) : 'No offers.');
      }),
    );
  vendor
    .command('withdraw-offer')
    .description('Withdraw one of your open offers.')
    .argument('<offer>', 'the offer id (see `proffer vendor offers`)')
    .action(
      action(async (cli: Cli, offerId: string) => {
        const withdrawn = await cli.vendor().withdrawOffer(offerId);
        cli.print(withdrawn, `Withdrew offer ${withdrawn.id}.`);
      }),
    );
}
