'use strict';
/**
 * Preloaded into the conformance suite (`node -r`): every TCP server it starts listens on
 * 127.0.0.1 only, whatever host (usually none, meaning all interfaces) the suite asked for, and
 * every TCP connection it opens goes to loopback (a scenario may try to fetch a URL a client
 * names, e.g. a client ID metadata document; that fails here instead of leaving the machine).
 *
 * The suite reads `server.address().port` right after `listen(0)`. Node binds at once when no
 * host is given but resolves a given host asynchronously, so while `listen` runs, the lookup of
 * our literal address answers synchronously and the bind stays synchronous.
 */
const net = require('node:net');
const dns = require('node:dns');

const HOST = '127.0.0.1';
const originalListen = net.Server.prototype.listen;
const originalLookup = dns.lookup;

function isPort(value) {
  return typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value));
}

/** The same listen arguments with the host forced to HOST; pipes and handles are left alone. */
function forceHost(args) {
  const [first, ...rest] = args;
  if (first === undefined || first === null || typeof first === 'function') {
    // listen() / listen(callback): an ephemeral port on all interfaces.
    return [0, HOST, ...(typeof first === 'function' ? [first] : []), ...rest];
  }
  if (isPort(first)) {
    // listen(port[, host][, backlog][, callback])
    if (rest.length > 0 && (rest[0] === undefined || rest[0] === null || typeof rest[0] === 'string')) {
      rest[0] = HOST;
    } else {
      rest.unshift(HOST);
    }
    return [first, ...rest];
  }
  if (typeof first === 'object' && first.path === undefined && first.fd === undefined
      && first.handle === undefined && !('_handle' in first)) {
    // listen(options[, callback]) for TCP
    return [{ ...first, host: HOST }, ...rest];
  }
  return args;
}

function literalLookup(hostname, options, callback) {
  if (hostname !== HOST) {
    return originalLookup.apply(this, arguments);
  }
  const done = typeof options === 'function' ? options : callback;
  const all = typeof options === 'object' && options !== null && options.all;
  return all ? done(null, [{ address: HOST, family: 4 }]) : done(null, HOST, 4);
}

net.Server.prototype.listen = function listen(...args) {
  dns.lookup = literalLookup;
  try {
    return originalListen.apply(this, forceHost(args));
  } finally {
    dns.lookup = originalLookup;
  }
};

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);
const originalConnect = net.Socket.prototype.connect;

net.Socket.prototype.connect = function connect(...args) {
  const [first] = args;
  const options = first !== null && typeof first === 'object' && !Array.isArray(first) ? first : null;
  const host = options ? options.host : isPort(first) ? args[1] : undefined;
  const ipc = options ? options.path !== undefined : typeof first === 'string' && !isPort(first);
  if (!ipc && typeof host === 'string' && !LOOPBACK.has(host.toLowerCase())) {
    const error = new Error(`loopback.cjs: connection to ${host} refused (loopback only)`);
    error.code = 'ECONNREFUSED';
    process.nextTick(() => this.destroy(error));
    return this;
  }
  return originalConnect.apply(this, args);
};
