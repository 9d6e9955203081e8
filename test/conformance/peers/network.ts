/**
 * Network hooks for transport tests that cannot send a packet off the
 * machine: `connect` dials only loopback addresses and records every address
 * it was asked for; anything else is recorded as a violation and answered
 * with a socket that fails without dialing. Tests assert `violations` is
 * empty, so a guard bug fails the test instead of reaching 10.0.0.1.
 */
import { connect as netConnect, Socket } from 'node:net';
import type { NetworkHooks, ResolvedAddress } from '../../../src/transports/contract.ts';

export function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || /^::ffff:127\./i.test(address);
}

export interface RecordingNetwork extends Required<NetworkHooks> {
  /** Every address `connect` was asked for. */
  dialed: string[];
  /** Non-loopback addresses `connect` was asked for (never dialed). */
  violations: string[];
}

/** `names` maps host names to fixed answers (no DNS traffic); others go to the system resolver. */
export function loopbackOnlyNetwork(names: Record<string, string[]> = {}): RecordingNetwork {
  const dialed: string[] = [];
  const violations: string[] = [];
  return {
    dialed,
    violations,
    lookup: async (hostname: string): Promise<ResolvedAddress[]> => {
      const fixed = names[hostname.toLowerCase()];
      if (fixed) return fixed.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
      if (hostname === 'localhost') return [{ address: '127.0.0.1', family: 4 }];
      throw Object.assign(new Error(`test resolver: unknown host ${hostname}`), { code: 'ENOTFOUND' });
    },
    connect: (o) => {
      dialed.push(o.host);
      if (isLoopback(o.host)) return netConnect(o);
      violations.push(o.host);
      const s = new Socket();
      process.nextTick(() => s.destroy(new Error(`test network: refused to dial non-loopback ${o.host}`)));
      return s;
    },
  };
}
