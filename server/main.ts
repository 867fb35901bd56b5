// `npm start`: the server, configured from the environment (README, Configuration).
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { createContext } from './context.js';
import { DataDirLockedError } from './db/database.js';
import { Dispatcher } from './push/dispatcher.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const ctx = await createContext(config);
  const app = await buildApp(ctx);

  // The embedded database has no autovacuum daemon: keep the planner's statistics fresh.
  const analyzeTimer =
    ctx.database.kind === 'pglite'
      ? setInterval(() => {
          ctx.database.analyze().catch((error: Error) => app.log.warn({ err: { message: error.message } }, 'analyze failed'));
        }, config.analyzeIntervalSeconds * 1000).unref()
      : undefined;

  // Webhook deliveries from the outbox: started once the server listens.
  const dispatcher = new Dispatcher(ctx, app.log);

  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'stopping after an unexpected error');
    else app.log.info({ signal }, 'stopping');
    clearInterval(analyzeTimer);
    // Deliveries in flight may finish (bounded); what is left stays in the outbox for the next start.
    const dispatcherStopped = dispatcher.stop(3_000);
    await app.close();
    await dispatcherStopped;
    // Handlers of clients that went away may still be querying: let them finish first.
    await ctx.inFlight.drain(5_000);
    await ctx.close();
  });

  await app.listen({ host: config.host, port: config.port });
  dispatcher.start();
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const storage = config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite in ${config.dataDir}`;
  console.log(`Proffer listening on http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port} (${storage})`);
  console.log(`API reference: ${config.publicUrl}/docs   OpenAPI: ${config.publicUrl}/openapi.yaml`);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof DataDirLockedError) console.error(`proffer: ${error.message}`);
  else console.error('proffer: could not start:', error);
  process.exit(1);
});
