import { InvalidArgumentError, type Command } from 'commander';
import type { JsonFeed, SubscriptionRequest, SubscriptionStatus } from '../../sdk/index.js';
import type { Cli } from '../context.js';
import { UsageError } from '../errors.js';
import { readJsonObject } from '../files.js';
import { subscriptionLines, type Action } from './person.js';

const FORMATS = ['atom', 'rss', 'json'] as const;
type Format = (typeof FORMATS)[number];

function seconds(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0.1 || number > 86_400) throw new InvalidArgumentError(`--interval must be a number of seconds between 0.1 and 86400; got "${value}".`);
  return number;
}

function format(value: string): Format {
  if (!FORMATS.includes(value as Format)) throw new InvalidArgumentError(`--format must be one of ${FORMATS.join(', ')}; got "${value}".`);
  return value as Format;
}

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
    .option('--format <format>', 'atom (default), rss or json', format)
    .option('--watch', 'keep polling; print each new entry as it arrives (one JSON line each with --json)')
    .option('--interval <seconds>', 'seconds between polls with --watch', seconds, 30)
    .action(
      action(async (cli: Cli, id: string, options: { format?: Format; watch?: boolean; interval: number }) => {
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
}
