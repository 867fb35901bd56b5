import type { Command } from 'commander';
import type { Intent, IntentQuery } from '../../sdk/index.js';
import type { Cli } from '../context.js';
import { feedFormat, nonNegative } from '../options.js';
import type { Action } from './person.js';

function budgetText({ min, max, currency }: NonNullable<Intent['budget']>): string {
  if (min !== undefined && max !== undefined) return `budget ${min}–${max} ${currency}`;
  return max !== undefined ? `budget up to ${max} ${currency}` : `budget from ${min ?? 0} ${currency}`;
}

function intentLines(intent: Intent): string[] {
  const place = intent.location && [intent.location.locality, intent.location.postalCode, intent.location.region, intent.location.country].filter(Boolean).join(', ');
  const details = [intent.category, intent.budget && budgetText(intent.budget), place, intent.wantedBy && `wanted by ${intent.wantedBy}`].filter(Boolean).join(' · ');
  return [`${intent.id}  ${intent.title}`, `  ${details}`];
}

export function registerIntentCommands(program: Command, action: Action): void {
  program
    .command('intents')
    .description('Browse the needs people cast publicly (pseudonymous), newest first; no login needed. Answer one with `proffer vendor offer`.')
    .option('--category <patterns>', 'comma-separated: sports covers sports/cycling, */cycling any …/cycling')
    .option('--country <code>', 'ISO 3166-1 alpha-2, e.g. FR')
    .option('--region <name>')
    .option('--locality <name>')
    .option('--postal-code <prefix>', '69 matches 69001')
    .option('--include-unlocated', 'location filters also match needs that do not say where')
    .option('--currency <code>', 'budgets in this currency (needed with --budget-min or --budget-max)')
    .option('--budget-min <amount>', 'budgets reaching at least this', nonNegative('--budget-min'))
    .option('--budget-max <amount>', 'budgets starting at most at this', nonNegative('--budget-max'))
    .option('--wanted-before <date>', 'wanted by a date before this (YYYY-MM-DD)')
    .option('--wanted-after <date>', 'wanted by a date after this, or undated (YYYY-MM-DD)')
    .option('--limit <n>', 'at most this many (1-100)', Number, 20)
    .option('--cursor <cursor>', 'the next page (as printed after a full page)')
    .option('--format <format>', 'print the feed document itself: atom, rss or json', feedFormat)
    .action(
      action(async (cli: Cli, options: IntentQuery) => {
        const page = await cli.proffer.intents({ ...options, format: options.format ?? 'json' });
        if (page.notModified) return; // only answered to a revalidation, which this never sends
        if (options.format) {
          process.stdout.write(page.text.endsWith('\n') ? page.text : `${page.text}\n`);
          return;
        }
        const intents = (page.feed?.items ?? []).flatMap((item) => (item._proffer ? [item._proffer] : []));
        cli.print(intents, intents.length ? intents.flatMap(intentLines) : 'No public intents match.');
        const next = page.feed?.next_url && new URL(page.feed.next_url).searchParams.get('cursor');
        if (next) cli.note(`More: the same command with --cursor ${next}`);
      }),
    );
}
