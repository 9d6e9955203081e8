/**
 * Which network addresses a webhook may reach (DESIGN.md section 4): loopback,
 * private, link-local, metadata and other non-public ranges are refused unless
 * `security.allowPrivateNetworks` is on or `security.allowList` names the host,
 * the address or a CIDR range holding it. Pure functions: the guard that
 * resolves and connects sits in `guard.ts`.
 */
import { isIP } from 'node:net';

/** An IP address as bytes (4 for IPv4, 16 for IPv6). */
type Bytes = Uint8Array;

interface Range {
  bytes: Bytes;
  prefix: number;
}

interface BlockedRange extends Range {
  reason: string;
}

/** Parses an IPv4 or IPv6 literal (brackets and a `%zone` are ignored) into bytes, or undefined. */
export function parseIp(text: string): Bytes | undefined {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const family = isIP(s);
  if (family === 4) return Uint8Array.from(s.split('.').map(Number));
  if (family !== 6) return undefined;
  // Expand an embedded dotted IPv4 tail (`::ffff:127.0.0.1`) into two hextets.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = tail.split('.').map(Number);
    s = `${s.slice(0, lastColon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros = rest === undefined ? 0 : 8 - left.length - right.length;
  const hextets = [...left, ...Array<string>(zeros).fill('0'), ...right].map((h) => Number.parseInt(h, 16));
  const out = new Uint8Array(16);
  hextets.forEach((h, i) => {
    out[i * 2] = h >> 8;
    out[i * 2 + 1] = h & 0xff;
  });
  return out;
}

function inRange(ip: Bytes, range: Range): boolean {
  if (ip.length !== range.bytes.length) return false;
  let bits = range.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip[i] & mask) !== (range.bytes[i] & mask)) return false;
  }
  return true;
}

/** Parses `10.0.0.0/8`, `fd00::/8` or a bare address (a full-length prefix). */
export function parseCidr(text: string): Range | undefined {
  const slash = text.indexOf('/');
  const bytes = parseIp(slash >= 0 ? text.slice(0, slash) : text);
  if (!bytes) return undefined;
  const max = bytes.length * 8;
  if (slash < 0) return { bytes, prefix: max };
  const p = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(p) || Number(p) > max) return undefined;
  return { bytes, prefix: Number(p) };
}

function blocked(cidr: string, reason: string): BlockedRange {
  return { ...parseCidr(cidr)!, reason };
}

/** Most specific first: the first match names the reason. */
const BLOCKED: readonly BlockedRange[] = [
  blocked('169.254.169.254/32', 'a cloud metadata address'),
  blocked('fd00:ec2::254/128', 'a cloud metadata address'),
  blocked('0.0.0.0/8', 'an unspecified ("this network") address'),
  blocked('::/128', 'an unspecified address'),
  blocked('127.0.0.0/8', 'a loopback address'),
  blocked('::1/128', 'a loopback address'),
  blocked('10.0.0.0/8', 'a private network address (10.0.0.0/8)'),
  blocked('172.16.0.0/12', 'a private network address (172.16.0.0/12)'),
  blocked('192.168.0.0/16', 'a private network address (192.168.0.0/16)'),
  blocked('100.64.0.0/10', 'a shared (carrier-grade NAT) address'),
  blocked('169.254.0.0/16', 'a link-local address'),
  blocked('192.0.0.0/24', 'a reserved IETF protocol address'),
  blocked('198.18.0.0/15', 'a reserved benchmarking address'),
  blocked('224.0.0.0/4', 'a multicast address'),
  blocked('240.0.0.0/4', 'a reserved or broadcast address'),
  blocked('fc00::/7', 'a private (unique local) address'),
  blocked('fe80::/10', 'a link-local address'),
  blocked('fec0::/10', 'a site-local address'),
  blocked('ff00::/8', 'a multicast address'),
];

/** IPv6 forms that carry an IPv4 address in their last 32 bits: mapped, NAT64, and the old compatible form. */
const EMBEDS_V4: readonly Range[] = [
  parseCidr('::ffff:0:0/96')!,
  parseCidr('64:ff9b::/96')!,
  parseCidr('::/96')!,
];

/**
 * Why an address may not be reached by default, or undefined for a public one.
 * IPv4 addresses embedded in IPv6 (`::ffff:127.0.0.1`) are judged as IPv4.
 */
export function blockedReason(address: string): string | undefined {
  const ip = parseIp(address);
  if (!ip) return 'not an IP address';
  return reasonFor(ip);
}

function embeddedV4(ip: Bytes): Bytes | undefined {
  return ip.length === 16 && EMBEDS_V4.some((r) => inRange(ip, r)) ? ip.subarray(12) : undefined;
}

function reasonFor(ip: Bytes): string | undefined {
  for (const r of BLOCKED) if (inRange(ip, r)) return r.reason;
  // `::ffff:127.0.0.1`, `64:ff9b::a00:1`, `::10.0.0.1`: judged by the IPv4 address inside.
  const v4 = embeddedV4(ip);
  return v4 === undefined ? undefined : reasonFor(v4);
}

/** The compiled `security` settings: decides whether a host name and the address it resolved to may be reached. */
export class AddressPolicy {
  private readonly hosts = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly ranges: Range[] = [];

  constructor(
    readonly allowPrivateNetworks: boolean,
    allowList: readonly string[],
  ) {
    for (const entry of allowList) {
      const e = entry.trim().toLowerCase();
      const range = parseCidr(e);
      if (range) this.ranges.push(range);
      else if (e.startsWith('*.')) this.suffixes.push(e.slice(1));
      else this.hosts.add(stripBrackets(e));
    }
  }

  /** True when the host name as written is on the allow list (then any address it resolves to is fine). */
  hostAllowed(host: string): boolean {
    const h = stripBrackets(host.toLowerCase()).replace(/\.$/, '');
    return this.hosts.has(h) || this.suffixes.some((s) => h.endsWith(s));
  }

  /** Undefined when `address` (reached through `host`) is allowed, else the reason it is refused. */
  check(host: string, address: string): string | undefined {
    if (this.allowPrivateNetworks || this.hostAllowed(host)) return undefined;
    const ip = parseIp(address);
    if (!ip) return 'not an IP address';
    const v4 = embeddedV4(ip);
    if (this.ranges.some((r) => inRange(ip, r) || (v4 !== undefined && inRange(v4, r)))) return undefined;
    return reasonFor(ip);
  }
}

function stripBrackets(h: string): string {
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}
