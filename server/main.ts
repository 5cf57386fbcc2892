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

// The first signal drains (lifecycle/drain.ts: it logs when it starts and, with the counts,
// when it is done) and exits 0, also when the deadline had to cancel streams. A second signal
// exits at once with the shell's code for death by that signal (130 SIGINT, 143 SIGTERM).
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
let isStopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (isStopping) {
      server.log.warn({ signal }, 'second signal: exiting at once');
      process.exit(SIGNAL_EXIT_CODES[signal]);
    }
    isStopping = true;
    void server
      .drain(undefined, { signal })
      .then(() => server.close())
      .then(() => process.exit(0));
  });
}
