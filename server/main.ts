// `npm start`: read the configuration, start the server, stop it on SIGINT/SIGTERM.

import { ConfigError, loadConfig } from './config.ts';
import { startServer } from './server.ts';

let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(err.message.startsWith('usage:') ? 0 : 1);
}

const server = await startServer(config).catch((err: Error) => {
  process.stderr.write(`failed to start: ${err.message}\n`);
  process.exit(1);
});

let isStopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (isStopping) process.exit(1); // a second signal: stop at once
    isStopping = true;
    server.log.info({ signal }, 'stopping');
    void server.close().then(() => process.exit(0));
  });
}
