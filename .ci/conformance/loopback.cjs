'use strict';
/**
 * Preloaded into the conformance suite (`node -r`): every TCP server it starts listens on
 * 127.0.0.1 only, whatever host (usually none, meaning all interfaces) the suite asked for.
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
