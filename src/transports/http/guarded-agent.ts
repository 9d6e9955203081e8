/**
 * An undici Agent whose every connection goes through the SSRF guard: the
 * connector resolves the host, checks each address, and connects to the
 * checked address (TLS still verifies the certificate against the host name).
 * Redirect hops and the OAuth2 token endpoint use the same agent, so they are
 * checked the same way.
 */
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Agent, type buildConnector } from 'undici';
import type { NetworkGuard } from '../net/guard.ts';

/** How long a TCP (and TLS) connect may take before it counts as a connection error. */
const CONNECT_TIMEOUT_MS = 10_000;

export function guardedConnector(guard: NetworkGuard): buildConnector.connector {
  return (opts, callback) => {
    const host = opts.hostname.startsWith('[') ? opts.hostname.slice(1, -1) : opts.hostname;
    const https = opts.protocol === 'https:';
    const port = Number(opts.port) || (https ? 443 : 80);
    let called = false;
    const finish = (err: Error | null, socket: Socket | null) => {
      if (called) return;
      called = true;
      if (err) callback(err, null);
      else callback(null, socket!);
    };
    guard.resolve(host).then(
      ({ address }) => {
        let raw: Socket;
        try {
          raw = guard.open(address, port);
        } catch (err) {
          finish(err as Error, null);
          return;
        }
        raw.setNoDelay(true);
        raw.setKeepAlive(true, 60_000);
        const socket = https
          ? tlsConnect({
              socket: raw,
              // Verify the certificate against the name in the URL, not the pinned address.
              host,
              servername: isIP(host) ? undefined : (opts.servername ?? host),
              ALPNProtocols: ['http/1.1'],
            })
          : raw;
        const timer = setTimeout(() => {
          const err = Object.assign(new Error(`connect to ${host}:${port} timed out`), {
            code: 'UND_ERR_CONNECT_TIMEOUT',
          });
          socket.destroy(err);
          finish(err, null);
        }, CONNECT_TIMEOUT_MS);
        const onError = (err: Error) => {
          clearTimeout(timer);
          socket.destroy();
          finish(err, null);
        };
        // Errors of the TCP socket under TLS surface on the TLS socket, which undici watches.
        if (socket !== raw) raw.on('error', (err) => socket.destroy(err));
        socket.once('error', onError);
        socket.once(https ? 'secureConnect' : 'connect', () => {
          clearTimeout(timer);
          socket.removeListener('error', onError);
          finish(null, socket);
        });
      },
      (err: Error) => finish(err, null),
    );
  };
}

export function guardedAgent(guard: NetworkGuard, options: Agent.Options = {}): Agent {
  return new Agent({ ...options, connect: guardedConnector(guard) });
}
