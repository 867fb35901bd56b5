import { Command, CommanderError } from 'commander';
import { ProfferProblem, ProfferUnreachable } from '../sdk/index.js';
import { registerAccountCommands } from './commands/account.js';
import { registerImportCommand } from './commands/import.js';
import { registerIntentCommands } from './commands/intents.js';
import { registerPersonCommands, type Action } from './commands/person.js';
import { registerVendorCommands } from './commands/vendor.js';
import { Cli, DEFAULT_SERVER, type GlobalOptions } from './context.js';
import { EXIT, UsageError } from './errors.js';

// Commander's own errors (unknown option, missing argument) read like ours: "proffer: …".
const output = { outputError: (message: string, write: (text: string) => void) => write(`proffer: ${message.replace(/^error: /, '')}`) };

/** `proffer`: the command line of a Proffer server, for people, vendors and operators. */
export function buildProgram(): Command {
  const program = new Command('proffer')
    .description('Proffer from the terminal: your profile, needs, terms and grants; vendors; bulk imports.')
    .option('--server <url>', `the Proffer server (default: $PROFFER_URL, the server of your last login, or ${DEFAULT_SERVER})`)
    .option('--json', 'machine-readable output: JSON on stdout, errors as JSON on stderr')
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(add --help for usage)')
    .configureOutput(output)
    .exitOverride();

  // Every action gets a Cli built from the global options (wherever they were written).
  const action: Action = (run) =>
    async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command;
      await run(new Cli(command.optsWithGlobals<GlobalOptions>()), ...(args.slice(0, -1) as never[]));
    };

  registerAccountCommands(program, action);
  registerPersonCommands(program, action);
  registerVendorCommands(program, action);
  registerIntentCommands(program, action);
  registerImportCommand(program, action);
  // Subcommands inherit the settings that make errors ours to report.
  const configure = (command: Command) => {
    command.exitOverride().showHelpAfterError('(add --help for usage)').configureHelp({ showGlobalOptions: true }).configureOutput(output);
    command.commands.forEach(configure);
  };
  program.commands.forEach(configure);
  return program;
}

/** How a failure is told: one line (the problem's detail), field errors below; JSON with --json. Never a stack. */
function report(error: unknown, json: boolean): number {
  if (error instanceof CommanderError) {
    // Commander has printed its own message (or the help).
    return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  let status: number = EXIT.failed;
  let message: string;
  let problem: Record<string, unknown> | undefined;
  if (error instanceof ProfferProblem) {
    message = error.detail;
    problem = { type: error.type, title: error.title, status: error.status, detail: error.detail, ...(error.errors.length ? { errors: error.errors } : {}), ...error.extensions };
  } else if (error instanceof ProfferUnreachable) {
    status = EXIT.unreachable;
    message = error.message;
  } else if (error instanceof UsageError) {
    status = EXIT.usage;
    message = error.message;
  } else {
    message = error instanceof Error ? error.message : String(error);
    if (process.env.PROFFER_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  }
  if (json) {
    process.stderr.write(`${JSON.stringify({ error: message, ...(problem ? { problem } : {}) })}\n`);
  } else {
    process.stderr.write(`proffer: ${message}\n`);
    if (error instanceof ProfferProblem) for (const field of error.errors) process.stderr.write(`  ${field.pointer || '(the whole body)'}: ${field.message}\n`);
  }
  return status;
}

export async function main(argv: string[]): Promise<number> {
  // `proffer needs list | head -1`: the reader went away; that is not an error worth a stack.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT.ok);
    throw error;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    return report(error, argv.includes('--json'));
  }
}
