import type { Command } from 'commander';
import type { Cli } from '../context.js';
import { UsageError } from '../errors.js';
import type { Action } from './person.js';

export function registerAccountCommands(program: Command, action: Action): void {
  program
    .command('signup')
    .description('Create your Proffer account and log in.')
    .argument('<handle>', '3-32 characters: a-z, 0-9 and hyphens')
    .option('--display-name <name>', 'how vendors and feeds call you')
    .option('--password-stdin', 'read the password from standard input (else $PROFFER_PASSWORD, else asked)')
    .action(
      action(async (cli: Cli, handle: string, options: { displayName?: string; passwordStdin?: boolean }) => {
        const password = await cli.secret('password', { fromStdin: options.passwordStdin === true, envName: 'PROFFER_PASSWORD' });
        const person = await cli.proffer.signUp({ handle, password, ...(options.displayName ? { displayName: options.displayName } : {}) });
        const client = await cli.proffer.loginPerson(handle, password);
        cli.updateConfig((config) => {
          config.server = cli.server;
          config.person = { server: cli.server, handle, ...client.tokens };
        });
        cli.print(person, `Signed up as ${handle} at ${cli.server}, and logged in.`);
      }),
    );

  program
    .command('login')
    .description('Log in as a person (password) or, with --vendor, as a vendor (client credentials). Tokens are kept in a file only you can read.')
    .argument('[handle]', "your handle (a person's login)")
    .option('--password-stdin', 'read the password from standard input (else $PROFFER_PASSWORD, else asked)')
    .option('--vendor', 'log in as a vendor with its client credentials')
    .option('--client-id <id>', "the vendor's client id (default: the saved one)")
    .option('--secret-stdin', "read the vendor's client secret from standard input (else $PROFFER_CLIENT_SECRET, else the saved one, else asked)")
    .action(
      action(async (cli: Cli, handle: string | undefined, options: { passwordStdin?: boolean; vendor?: boolean; clientId?: string; secretStdin?: boolean }) => {
        if (options.vendor) {
          const saved = cli.config.vendor;
          const clientId = options.clientId ?? saved?.clientId;
          if (!clientId) throw new UsageError('Which vendor? Give --client-id (or register with `proffer vendor register`).');
          const savedSecret = saved?.clientId === clientId ? saved.clientSecret : undefined;
          const secret =
            options.secretStdin || cli.env.PROFFER_CLIENT_SECRET || !savedSecret ? await cli.secret('client secret', { fromStdin: options.secretStdin === true, envName: 'PROFFER_CLIENT_SECRET' }) : savedSecret;
          const client = await cli.proffer.loginVendor(clientId, secret);
          cli.updateConfig((config) => {
            config.server = cli.server;
            const same = config.vendor?.clientId === clientId ? config.vendor : undefined;
            config.vendor = { server: cli.server, id: same?.id ?? '', name: same?.name ?? '', clientId, clientSecret: secret, ...client.tokens };
          });
          cli.print({ kind: 'vendor', clientId, server: cli.server }, `Logged in as vendor ${clientId} at ${cli.server}.`);
          return;
        }
        if (!handle) throw new UsageError('Which person? Give your handle: `proffer login <handle>` (or --vendor).');
        const password = await cli.secret('password', { fromStdin: options.passwordStdin === true, envName: 'PROFFER_PASSWORD' });
        const client = await cli.proffer.loginPerson(handle, password);
        cli.updateConfig((config) => {
          config.server = cli.server;
          config.person = { server: cli.server, handle, ...client.tokens };
        });
        cli.print({ kind: 'person', handle, server: cli.server }, `Logged in as ${handle} at ${cli.server}.`);
      }),
    );

  program
    .command('logout')
    .description('End the session on the server and forget its tokens.')
    .option('--vendor', "the vendor's session rather than the person's")
    .action(
      action(async (cli: Cli, options: { vendor?: boolean }) => {
        const client = options.vendor ? cli.vendor() : cli.person();
        await client.logout();
        cli.updateConfig((config) => {
          if (options.vendor) {
            // The client credentials stay (the secret cannot be shown again); only the session ends.
            if (config.vendor) config.vendor = { ...config.vendor, accessToken: '', refreshToken: '' };
          } else delete config.person;
        });
        cli.print({ loggedOut: true }, 'Logged out.');
      }),
    );
}
