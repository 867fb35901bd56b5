import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { allPages } from '../../sdk/index.js';
import type {
  Evaluation,
  FeedLink,
  IssuedFeedLink,
  Need,
  NeedInput,
  NeedOffer,
  Offer,
  OfferStatus,
  PersonClient,
  Profile,
  Subscription,
  SubscriptionRequest,
  SubscriptionStatus,
  Terms,
  TermsEvaluation,
  TermsInput,
  VendorRequest,
} from '../../sdk/index.js';
import type { Cli } from '../context.js';
import { UsageError } from '../errors.js';
import { readDocument, readJsonObject } from '../files.js';
import { list, offerStatus, OFFER_STATUSES, oneOf } from '../options.js';

type Run = (cli: Cli, ...args: never[]) => Promise<void>;
/** Wraps a command's action: builds the Cli from the global options; the caller handles failures. */
export type Action = (run: Run) => (...args: unknown[]) => Promise<void>;

const NEED_STATUSES = ['open', 'fulfilled', 'withdrawn', 'expired'] as const;
const SUBSCRIPTION_STATUSES = ['pending', 'active', 'rejected', 'revoked', 'ended', 'expired'] as const;

/** Writes personal data to a file only its owner can read. */
function writePrivateFile(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
}

const needLine = (need: Need) => `${need.id}  ${need.status.padEnd(9)}  ${need.category}  ${need.title}`;

function termsLines(terms: Terms): string[] {
  const lines = [`Version ${terms.version}${terms.title ? `: ${terms.title}` : ''}`];
  for (const rule of terms.rules) {
    const what = [...(rule.fields ?? []), ...(rule.needs ? rule.needs.categories.map((c) => `needs:${c}`) : [])].join(', ');
    const purposes = rule.purposes?.length ? ` for ${rule.purposes.join(', ')}` : '';
    const approval = rule.effect === 'permit' ? ` (${rule.approval === 'ask' ? 'ask me' : 'automatically'})` : '';
    lines.push(`  ${rule.id}: ${rule.effect} ${what || 'everything'}${purposes}${approval}`);
  }
  return lines;
}

function evaluationLines(evaluation: Evaluation): string[] {
  return [`Outcome: ${evaluation.outcome} (terms version ${evaluation.termsVersion})`, ...evaluation.fields.map((field) => `  ${field.path} for ${field.purpose}: ${field.decision} — ${field.reason}`)];
}

const askedFields = (fields: SubscriptionRequest['fields']) => fields.map((field) => `${field.path} (${field.purpose}${field.required ? ', required' : ''})`).join(', ');

export function subscriptionLines(subscription: Subscription): string[] {
  const granted = subscription.grant.fields.length ? subscription.grant.fields.join(', ') : 'nothing';
  return [
    `${subscription.id}  ${subscription.status}  ${subscription.vendor.name} <${subscription.vendor.homepage}>`,
    `  asks for: ${askedFields(subscription.request.fields)}`,
    `  granted:  ${granted}`,
    ...(subscription.statusReason ? [`  why:      ${subscription.statusReason}`] : []),
  ];
}

/** An offer as the person (with its vendor) or the vendor (with its intent) sees it. */
export function offerLines(offer: Offer | NeedOffer): string[] {
  const from = 'vendor' in offer ? `${offer.vendor.name} <${offer.vendor.homepage}>` : `on intent ${offer.intentId}`;
  const terms = [offer.price && `${offer.price.amount} ${offer.price.currency}`, offer.validUntil && `until ${offer.validUntil}`].filter(Boolean).join(', ');
  return [
    `${offer.id}  ${offer.status}  ${from}${terms ? `  (${terms})` : ''}`,
    `  message:  ${offer.message}`,
    `  asks for: ${askedFields(offer.request.fields)}`,
    ...(offer.statusReason ? [`  why:      ${offer.statusReason}`] : []),
    ...(offer.subscription ? [`  made:     subscription ${offer.subscription.id} (${offer.subscription.status})`] : []),
  ];
}

const feedLinkLine = (link: FeedLink) => `${link.id}  ${link.live ? 'live    ' : 'not live'}  created ${link.createdAt}${link.rotatedAt ? `, new URL ${link.rotatedAt}` : ''}`;

/** Listing and deleting a subscription's feed links go alike for its person and its vendor. */
export const feedLinkActions = (holder: (cli: Cli) => Pick<PersonClient, 'feedLinks' | 'deleteFeedLink'>) => ({
  list: async (cli: Cli, id: string) => {
    const links = await holder(cli).feedLinks(id);
    cli.print(links, links.length ? links.map(feedLinkLine) : 'No feed links.');
  },
  delete: async (cli: Cli, id: string, linkId: string) => {
    await holder(cli).deleteFeedLink(id, linkId);
    cli.print({ deleted: linkId }, `Feed link ${linkId} deleted: its URL no longer works.`);
  },
});

/** A feed link's URL is in this answer only, and is as good as a password to the feed. */
export const issuedFeedLinkLines = (link: IssuedFeedLink) => [
  `Feed link ${link.id} of subscription ${link.subscription}:`,
  `  ${link.url}`,
  'The URL is shown only once, and anyone who has it reads the feed: keep it like a password.',
];

export function registerPersonCommands(program: Command, action: Action): void {
  // --- profile ---
  const profile = program.command('profile').description('Your profile: read it, or replace it from a JSON or XML file.');
  profile
    .command('get')
    .description('Print your profile (JSON, or Proffer XML with --xml).')
    .option('--xml', 'as Proffer XML')
    .option('-o, --output <file>', 'write it to this file (readable only by you) instead')
    .action(
      action(async (cli: Cli, options: { xml?: boolean; output?: string }) => {
        const person = cli.person();
        const text = options.xml ? await person.getProfileXml() : `${JSON.stringify(await person.getProfile(), null, 2)}\n`;
        if (options.output) {
          writePrivateFile(options.output, text);
          cli.note(`Profile written to ${options.output}.`);
        } else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
      }),
    );
  profile
    .command('set')
    .description('Replace your profile with a document: a .json file, or a .xml file in the Proffer namespace.')
    .argument('<file>', 'profile.json or profile.xml')
    .action(
      action(async (cli: Cli, file: string) => {
        const document = readDocument(file);
        const person = cli.person();
        if (document.kind === 'xml') {
          await person.setProfileXml(document.text);
          cli.print(cli.json ? await person.getProfile() : null, `Profile saved from ${file}.`);
        } else {
          cli.print(await person.setProfile(document.value as Profile), `Profile saved from ${file}.`);
        }
      }),
    );

  // --- needs ---
  const needs = program.command('needs').description('Your needs (intents): what you are looking for.');
  needs
    .command('add')
    .description('Add a need, from a JSON or XML file or from options.')
    .argument('[file]', 'need.json or need.xml')
    .option('--title <text>', 'what you need')
    .option('--category <category>', 'e.g. sports/cycling')
    .option('--description <text>')
    .option('--budget-max <amount>', 'the most you would pay', Number)
    .option('--currency <code>', 'ISO 4217, e.g. EUR')
    .option('--wanted-by <date>', 'YYYY-MM-DD')
    .option('--visibility <who>', 'subscribers (default) or public', oneOf(['subscribers', 'public'] as const, '--visibility'))
    .action(
      action(async (cli: Cli, file: string | undefined, options: { title?: string; category?: string; description?: string; budgetMax?: number; currency?: string; wantedBy?: string; visibility?: 'subscribers' | 'public' }) => {
        let need: Need;
        if (file) {
          const document = readDocument(file);
          const person = cli.person();
          need = document.kind === 'xml' ? await person.createNeedXml(document.text) : await person.createNeed(document.value as NeedInput);
        } else {
          if (!options.title || !options.category) throw new UsageError('Give a file, or at least --title and --category.');
          if (options.budgetMax !== undefined && (!Number.isFinite(options.budgetMax) || !options.currency)) throw new UsageError('--budget-max needs a number and --currency.');
          const input: NeedInput = {
            title: options.title,
            category: options.category,
            visibility: options.visibility ?? 'subscribers',
            ...(options.description ? { description: options.description } : {}),
            ...(options.budgetMax !== undefined ? { budget: { max: options.budgetMax, currency: options.currency! } } : {}),
            ...(options.wantedBy ? { wantedBy: options.wantedBy } : {}),
          };
          need = await cli.person().createNeed(input);
        }
        cli.print(need, `Added need ${need.id}: ${need.title}`);
      }),
    );
  needs
    .command('list')
    .description('List your needs, newest first.')
    .option('--status <status>', NEED_STATUSES.join(', '), oneOf(NEED_STATUSES, '--status'))
    .action(
      action(async (cli: Cli, options: { status?: (typeof NEED_STATUSES)[number] }) => {
        const all = await cli.person().allNeeds(options.status ? { status: options.status } : {});
        cli.print(all, all.length ? all.map(needLine) : 'No needs.');
      }),
    );
  needs
    .command('close')
    .description('Mark a need fulfilled (or withdrawn).')
    .argument('<id>', 'the need id (see `proffer needs list`)')
    .option('--withdrawn', 'withdrawn rather than fulfilled')
    .action(
      action(async (cli: Cli, id: string, options: { withdrawn?: boolean }) => {
        const need = await cli.person().closeNeed(id, options.withdrawn ? 'withdrawn' : 'fulfilled');
        cli.print(need, `Need ${need.id} is now ${need.status}.`);
      }),
    );

  needs
    .command('offers')
    .description('Offers vendors made on one of your needs (while it was public), newest first.')
    .argument('<need>', 'the need id (see `proffer needs list`)')
    .option('--status <status>', OFFER_STATUSES.join(', '), offerStatus)
    .action(
      action(async (cli: Cli, needId: string, options: { status?: OfferStatus }) => {
        const person = cli.person();
        const offers = await allPages((paging) => person.listNeedOffers(needId, { ...paging, ...(options.status ? { status: options.status } : {}) }));
        cli.print(offers, offers.length ? offers.flatMap(offerLines) : 'No offers.');
      }),
    );
  needs
    .command('accept-offer')
    .description('Accept an open offer: its request is made to you, and your terms as they stand decide it. The vendor learns who you are.')
    .argument('<need>', 'the need id')
    .argument('<offer>', 'the offer id (see `proffer needs offers <need>`)')
    .action(
      action(async (cli: Cli, needId: string, offerId: string) => {
        const accepted = await cli.person().acceptOffer(needId, offerId);
        const made = accepted.subscription;
        cli.print(accepted, [
          `Accepted ${accepted.vendor.name}'s offer${made ? `: subscription ${made.id} is ${made.status}` : ''}.`,
          ...(made?.status === 'pending' ? [`It waits for you: \`proffer subscriptions approve ${made.id}\` (or reject).`] : []),
        ]);
      }),
    );
  needs
    .command('decline-offer')
    .description('Decline an open offer.')
    .argument('<need>', 'the need id')
    .argument('<offer>', 'the offer id')
    .option('--reason <text>', 'shown to the vendor')
    .action(
      action(async (cli: Cli, needId: string, offerId: string, options: { reason?: string }) => {
        const declined = await cli.person().declineOffer(needId, offerId, options.reason);
        cli.print(declined, `Declined ${declined.vendor.name}'s offer.`);
      }),
    );

  // --- terms ---
  const terms = program.command('terms').description('Your terms: what vendors may have, for what, under which duties.');
  terms
    .command('show')
    .description('Print the terms in force.')
    .action(
      action(async (cli: Cli) => {
        const current = await cli.person().getTerms();
        cli.print(current, () => termsLines(current));
      }),
    );
  terms
    .command('templates')
    .description('List the ready-made terms you can apply.')
    .action(
      action(async (cli: Cli) => {
        const templates = await cli.proffer.termsTemplates();
        cli.print(templates, templates.map((t) => `${t.id}: ${t.title}\n  ${t.description}`));
      }),
    );
  terms
    .command('apply')
    .description('Make a template your terms (a new version).')
    .argument('<template>', 'a template id (see `proffer terms templates`)')
    .action(
      action(async (cli: Cli, template: string) => {
        const person = cli.person();
        const known = await cli.proffer.termsTemplates();
        if (!known.some((t) => t.id === template)) throw new UsageError(`No terms template "${template}"; the templates are: ${known.map((t) => t.id).join(', ')}.`);
        const applied = await person.applyTemplate(template);
        cli.print(applied, () => [`Your terms are now version ${applied.version}.`, ...termsLines(applied)]);
      }),
    );
  terms
    .command('set')
    .description('Write your own terms from a JSON file (a new version).')
    .argument('<file>', 'terms.json: {"title": …, "rules": […]}')
    .action(
      action(async (cli: Cli, file: string) => {
        const written = await cli.person().setTerms(readJsonObject(file) as TermsInput);
        cli.print(written, () => [`Your terms are now version ${written.version}.`, ...termsLines(written)]);
      }),
    );
  terms
    .command('evaluate')
    .description('Dry-run a vendor request against your terms: which field, which rule, why.')
    .argument('<request>', 'request.json: {"fields": […]} (or {"request": …, "vendor": …})')
    .action(
      action(async (cli: Cli, file: string) => {
        const body = readJsonObject(file);
        const evaluation = await cli.person().evaluateTerms(('request' in body ? body : { request: body as VendorRequest }) as TermsEvaluation);
        cli.print(evaluation, () => evaluationLines(evaluation));
      }),
    );

  // --- subscriptions ---
  const subscriptions = program.command('subscriptions').description('Who asked for what; approve, reject or revoke.');
  subscriptions
    .command('list')
    .description('List the subscriptions vendors asked you for, newest first.')
    .option('--status <status>', SUBSCRIPTION_STATUSES.join(', '), oneOf(SUBSCRIPTION_STATUSES, '--status'))
    .action(
      action(async (cli: Cli, options: { status?: SubscriptionStatus }) => {
        const person = cli.person();
        const items = await allPages((paging) => person.listSubscriptions({ ...paging, ...(options.status ? { status: options.status } : {}) }));
        cli.print(items, items.length ? items.flatMap(subscriptionLines) : 'No subscriptions.');
      }),
    );
  subscriptions
    .command('show')
    .description('One subscription: what is asked, why, and how your terms decided.')
    .argument('<id>')
    .action(
      action(async (cli: Cli, id: string) => {
        const subscription = await cli.person().getSubscription(id);
        cli.print(subscription, () => [...subscriptionLines(subscription), ...evaluationLines(subscription.decision)]);
      }),
    );
  subscriptions
    .command('approve')
    .description('Approve a pending subscription, optionally narrowed.')
    .argument('<id>')
    .option('--fields <paths>', 'only these of the requested fields, comma-separated', list)
    .option('--purposes <purposes>', 'only for these purposes, comma-separated', list)
    .action(
      action(async (cli: Cli, id: string, options: { fields?: string[]; purposes?: string[] }) => {
        const approved = await cli.person().approve(id, {
          ...(options.fields ? { fields: options.fields } : {}),
          ...(options.purposes ? { purposes: options.purposes as never } : {}),
        });
        cli.print(approved, `Approved: ${approved.vendor.name} may read ${approved.grant.fields.join(', ') || 'nothing'}.`);
      }),
    );
  subscriptions
    .command('reject')
    .description('Reject a pending subscription.')
    .argument('<id>')
    .option('--reason <text>', 'shown to the vendor')
    .action(
      action(async (cli: Cli, id: string, options: { reason?: string }) => {
        const rejected = await cli.person().reject(id, options.reason);
        cli.print(rejected, `Rejected ${rejected.vendor.name}'s request.`);
      }),
    );
  subscriptions
    .command('revoke')
    .description("Revoke a grant: the vendor's very next read is refused.")
    .argument('<id>')
    .option('--reason <text>', 'shown to the vendor')
    .action(
      action(async (cli: Cli, id: string, options: { reason?: string }) => {
        const revoked = await cli.person().revoke(id, options.reason);
        cli.print(revoked, `Revoked: ${revoked.vendor.name} can no longer read anything of yours.`);
      }),
    );

  const personFeedLinks = feedLinkActions((cli) => cli.person());
  subscriptions
    .command('feed-links')
    .description("The feed links a vendor made for a subscription: URLs that read its feed without a token (never shown here).")
    .argument('<id>', 'the subscription id')
    .action(action(personFeedLinks.list));
  subscriptions
    .command('rotate-link')
    .description('Give a feed link a new URL (shown once); the old one stops working at once.')
    .argument('<id>', 'the subscription id')
    .argument('<link>', 'the feed link id (see `proffer subscriptions feed-links <id>`)')
    .action(
      action(async (cli: Cli, id: string, linkId: string) => {
        const rotated = await cli.person().rotateFeedLink(id, linkId);
        cli.print(rotated, [...issuedFeedLinkLines(rotated), "The old URL no longer works: pass this one on to the vendor's tool if it should keep reading."]);
      }),
    );
  subscriptions
    .command('delete-link')
    .description('Kill a feed link: its URL stops working at once.')
    .argument('<id>', 'the subscription id')
    .argument('<link>', 'the feed link id')
    .action(action(personFeedLinks.delete));

  // --- the account ---
  program
    .command('access-log')
    .description('Every vendor read of your data, newest first.')
    .option('--subscription <id>', 'only under this subscription')
    .option('--vendor <id>', 'only by this vendor')
    .option('--limit <n>', 'at most this many entries (1-100)', Number, 50)
    .action(
      action(async (cli: Cli, options: { subscription?: string; vendor?: string; limit: number }) => {
        const log = await cli.person().accessLog({ limit: options.limit, ...(options.subscription ? { subscription: options.subscription } : {}), ...(options.vendor ? { vendor: options.vendor } : {}) });
        cli.print(log.items, log.items.length ? log.items.map((e) => `${e.at}  ${e.vendor.name}  ${e.what ?? 'read'}  ${e.fields.join(', ')}  from ${e.address}`) : 'No reads.');
      }),
    );
  program
    .command('receipts')
    .description('Your consent receipts, each verified against the server’s published keys.')
    .option('--issuer <url>', "the server's public URL, if it differs from --server")
    .action(
      action(async (cli: Cli, options: { issuer?: string }) => {
        const { items } = await cli.person().receipts({ limit: 100 });
        const verified = [];
        for (const receipt of items) {
          const payload = await cli.proffer.verifyReceipt(receipt.jws, { issuer: options.issuer ?? cli.server }).catch((error: Error) => {
            throw new Error(`Receipt ${receipt.receipt.consentReceiptID} does not verify: ${error.message}`);
          });
          verified.push(payload);
        }
        cli.print(verified, verified.length ? verified.map((r) => `${new Date(r.iat * 1000).toISOString()}  ${r.event}  ${r.piiControllers.map((c) => c.piiController).join(', ')}  ${r.services.flatMap((s) => s.purposes.flatMap((p) => p.piiCategory)).join(', ')}  (verified)`) : 'No receipts.');
      }),
    );
  program
    .command('export')
    .description('Everything held about you (JSON, or XML with --xml).')
    .option('--xml', 'as Proffer XML')
    .option('-o, --output <file>', 'write it to this file (readable only by you) instead')
    .action(
      action(async (cli: Cli, options: { xml?: boolean; output?: string }) => {
        const person = cli.person();
        const text = options.xml ? await person.exportXml() : `${JSON.stringify(await person.exportData(), null, 2)}\n`;
        if (options.output) {
          writePrivateFile(options.output, text);
          cli.note(`Exported to ${options.output} (${Buffer.byteLength(text)} bytes).`);
        } else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
      }),
    );
  program
    .command('delete')
    .description('Erase yourself and everything held about you. Irreversible.')
    .option('--yes', 'do not ask: I mean it')
    .action(
      action(async (cli: Cli, options: { yes?: boolean }) => {
        const saved = cli.config.person;
        const person = cli.person();
        if (!options.yes && !(await cli.confirm(`Erase ${saved!.handle} and everything held about them? Type the handle to confirm: `, saved!.handle))) {
          throw new UsageError('Not erased: confirm with --yes (or type the handle when asked).');
        }
        await person.erase();
        cli.updateConfig((config) => {
          delete config.person;
        });
        cli.print({ erased: saved!.handle }, `Erased ${saved!.handle}: everything held about you is gone, and the handle is retired.`);
      }),
    );
}
