/**
 * The SSRF guard every built-in transport connects through: resolve the host
 * name once, check every address against the policy, then connect to the
 * checked address itself (resolve-then-pin, so a second DNS answer cannot slip
 * a private address in between check and connect).
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import type { NetworkHooks, ResolvedAddress, SecuritySettings } from '../contract.ts';
import { AddressPolicy } from './address-policy.ts';

/** A target the policy refuses: always a permanent delivery error. */
export class TargetRefusedError extends Error {
  readonly code = 'HOOKD_TARGET_REFUSED';
  constructor(
    readonly host: string,
    readonly address: string,
    readonly reason: string,
  ) {
    const target = host === address ? address : `${host} (${address})`;
    super(
      `refused to connect to ${target}: ${reason}; allow it with security.allowPrivateNetworks or security.allowList`,
    );
    this.name = 'TargetRefusedError';
  }
}

/** Finds a `TargetRefusedError` in an error or its `cause` chain (undici and others wrap errors). */
export function findRefusal(err: unknown): TargetRefusedError | undefined {
  for (let e = err, depth = 0; e !== null && e !== undefined && depth < 5; depth++) {
    if (e instanceof TargetRefusedError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

const defaultLookup = async (hostname: string): Promise<ResolvedAddress[]> =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

const defaultConnect = (o: { host: string; port: number }): Socket => netConnect(o);

export class NetworkGuard {
  readonly policy: AddressPolicy;
  private readonly lookup: (hostname: string) => Promise<ResolvedAddress[]>;
  private readonly dial: (o: { host: string; port: number }) => Socket;

  constructor(security: SecuritySettings, hooks: NetworkHooks = {}) {
    this.policy = new AddressPolicy(security.allowPrivateNetworks, security.allowList);
    this.lookup = hooks.lookup ?? defaultLookup;
    this.dial = hooks.connect ?? defaultConnect;
  }

  /**
   * The address to connect to for `host` (a name or an IP literal, brackets
   * allowed). Every address the name resolves to must be allowed, so a name
   * mixing public and private answers is refused rather than tried.
   */
  async resolve(host: string): Promise<ResolvedAddress> {
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    const family = isIP(bare);
    const addresses: ResolvedAddress[] = family
      ? [{ address: bare, family: family as 4 | 6 }]
      : await this.lookup(bare);
    if (addresses.length === 0)
      throw Object.assign(new Error(`${bare} has no addresses`), { code: 'ENOTFOUND' });
    for (const a of addresses) {
      const reason = this.policy.check(bare, a.address);
      if (reason !== undefined) throw new TargetRefusedError(bare, a.address, reason);
    }
    return addresses[0];
  }

  /** Opens a socket to an address `resolve` returned. */
  open(address: string, port: number): Socket {
    return this.dial({ host: address, port });
  }

  /** Resolves, checks and connects; resolves once the TCP connection is up. The signal aborts the attempt. */
  async connect(host: string, port: number, signal?: AbortSignal): Promise<Socket> {
    signal?.throwIfAborted();
    const { address } = await this.resolve(host);
    signal?.throwIfAborted();
    const socket = this.open(address, port);
    return new Promise<Socket>((resolve, reject) => {
      const onAbort = () => {
        socket.destroy();
        reject(signal?.reason);
      };
      const done = () => signal?.removeEventListener('abort', onAbort);
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        done();
        socket.removeListener('error', onError);
        resolve(socket);
      });
      const onError = (err: Error) => {
        done();
        reject(err);
      };
      socket.once('error', onError);
    });
  }
}
