// The benchmark's peers, in bench order. Each starts its server as a child process on a free
// loopback port (HTTP/2 over TLS, `https://localhost:PORT/media/<file>`) and stops it again.

import { caddyPeer } from './caddy.ts';
import { h2oPeer } from './h2o.ts';
import { nginxPeer } from './nginx.ts';
import { fastifyStaticPeer, koaSendPeer, nodeFloorPeer, respondWithFdPeer } from './node-scripts.ts';
import { oursAsyncReadPeer, oursPeer, oursSyncReadPeer } from './ours.ts';
import type { Peer } from './peer.ts';

export type { Peer, PeerAvailability, PeerContext, PeerHandle } from './peer.ts';

export const PEERS: readonly Peer[] = [oursPeer, oursSyncReadPeer, oursAsyncReadPeer, nginxPeer, h2oPeer, caddyPeer, respondWithFdPeer, nodeFloorPeer, fastifyStaticPeer, koaSendPeer];
