// Free loopback TCP ports for child processes that need a fixed port up front (HAProxy's
// config, an instance restarted on the port it had, redis-server): the bench's helper.

export { freeLoopbackPort as freePort } from '../../bench/peers/child-process.ts';
