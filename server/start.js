// `npm start`: server/main.ts, with Node's module compile cache on. Plain JavaScript, since the
// cache must be on before the first TypeScript file loads.
//
// Node strips types with a WebAssembly build of SWC that, once loaded, stays resident (about
// 28 MiB of a fresh server's 106 MiB). With the cache, each file's stripped JavaScript (and V8's
// code cache) is kept on disk and checked against the file's contents, and a start whose files
// are all cached never loads the stripper. A changed file is stripped again on its next load. The
// cache lives in NODE_COMPILE_CACHE when set, else in <os.tmpdir()>/node-compile-cache;
// NODE_DISABLE_COMPILE_CACHE=1 turns it off. If it cannot be used, the server runs as before.
//
// `node server/start.js --help` loads every module of the server, prints the usage and exits:
// `prestart` and the Dockerfile run it so that even the first start finds the cache filled.

import module from 'node:module';

module.enableCompileCache();
await import('./main.ts');
// Written now rather than at exit: a server that is killed still leaves the cache for the next start.
module.flushCompileCache();
