import { SingleBar } from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import type { Cli } from '../context.js';
import { importPeople, type ImportSummary } from '../importer.js';
import type { Action } from './person.js';

function count(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > 32) throw new InvalidArgumentError(`--concurrency must be a whole number from 1 to 32; got "${value}".`);
  return number;
}

function summaryLines(summary: ImportSummary): string[] {
  const lines = [
    `Imported ${summary.file} into ${summary.server}: ${summary.lines} line${summary.lines === 1 ? '' : 's'}.`,
    `  people: ${summary.peopleCreated} created, ${summary.peopleResumed} resumed, ${summary.alreadyDone} already done in an earlier run`,
    `  needs:  ${summary.needsCreated} created, ${summary.needsAlreadyThere} already there`,
  ];
  if (summary.failed.length) {
    lines.push(`  ${summary.failed.length} failed:`);
    for (const failure of summary.failed) lines.push(`    line ${failure.line}${failure.handle ? ` (${failure.handle})` : ''}: ${failure.error}`);
  }
  return lines;
}

export function registerImportCommand(program: Command, action: Action): void {
  program
    .command('import')
    .description('Operators: import people, their profiles and needs from NDJSON (one person per line). Safe to run again after an interruption: nothing is duplicated.')
    .argument('<file>', 'people.ndjson: {"handle","password","displayName"?,"profile"?,"needs"?: […]} per line')
    .option('--state <file>', 'where progress is kept (default: <file>.import-state.json)')
    .option('--concurrency <n>', 'people imported at once', count, 4)
    .action(
      action(async (cli: Cli, file: string, options: { state?: string; concurrency: number }) => {
        // The bar is for a person watching: not in --json mode, not when stderr is a file or a pipe.
        const bar = !cli.json && process.stderr.isTTY ? new SingleBar({ stream: process.stderr, format: 'importing [{bar}] {value}/{total} lines | {eta_formatted} left', hideCursor: true }) : undefined;
        let started = false;
        const summary = await importPeople({
          proffer: cli.proffer,
          file,
          statePath: options.state ?? `${file}.import-state.json`,
          concurrency: options.concurrency,
          onProgress: (done, total) => {
            if (!bar) return;
            if (!started) {
              bar.start(total, done);
              started = true;
            } else bar.update(done);
          },
        }).finally(() => bar?.stop());
        cli.print(summary, () => summaryLines(summary));
        if (summary.failed.length) process.exitCode = 1;
      }),
    );
}
