// Peer `fastify-static`: Fastify over HTTP/2 + TLS (HTTP/1.1 fallback) with @fastify/static
// serving the media root under /media/, ranges on (its default). Logging off, everything
// else as shipped.
//
//   PORT=8443 MEDIA_ROOT=... TLS_CERT=... TLS_KEY=... node bench/peers/fastify-static-server.ts

import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';
import { exitOnSignal, readScriptSettings } from './script-env.ts';

const settings = readScriptSettings();
const app = Fastify({ http2: true, https: { allowHTTP1: true, key: settings.key, cert: settings.cert }, logger: false });
await app.register(fastifyStatic, { root: settings.mediaRoot, prefix: '/media/', acceptRanges: true });
await app.listen({ port: settings.port, host: settings.host });
process.stdout.write(`fastify-static listening on ${settings.host}:${settings.port}\n`);
exitOnSignal();
