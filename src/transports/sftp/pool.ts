/**
 * SSH connections (each with one SFTP session) reused per host, port, user
 * and credentials. A connection is shared by concurrent uploads, closed after
 * it has been idle for `idleMs`, and dropped as soon as it errors or closes.
 * Connecting goes through the SSRF guard and verifies the host key.
 */
import { createHash } from 'node:crypto';
import { Client, type SFTPWrapper } from 'ssh2';
import { raceSignal } from '../abort.ts';
import type { NetworkGuard } from '../net/guard.ts';
import { HostKeyMismatchError, SftpConfigError } from './classify.ts';

export interface SftpTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
  privateKey?: string;
  passphrase?: string;
  hostKey?: string;
  insecureSkipHostKeyVerification: boolean;
}

export interface Connection {
  sftp: SFTPWrapper;
  /** Uploads using it right now. */
  active: number;
  closed: boolean;
}

interface Entry extends Connection {
  key: string;
  client: Client;
  idle?: NodeJS.Timeout;
}

/** `SHA256:<base64 without padding>` of a raw host key, as OpenSSH prints it. */
export function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

const normalizeFingerprint = (f: string) => f.trim().replace(/=+$/, '');

function keyOf(t: SftpTarget): string {
  // Credentials are hashed into the key: changed settings never reuse an old login.
  return createHash('sha256')
    .update(
      JSON.stringify([
        t.host.toLowerCase(),
        t.port,
        t.user,
        t.password ?? '',
        t.privateKey ?? '',
        t.passphrase ?? '',
        t.hostKey ?? '',
        t.insecureSkipHostKeyVerification,
      ]),
    )
    .digest('base64url');
}

export interface PoolOptions {
  guard: NetworkGuard;
  /** SSH handshake (and login) deadline. */
  handshakeTimeoutMs: number;
  /** @default 30000 */
  idleMs?: number;
}

export class SftpPool {
  private readonly entries = new Map<string, Promise<Entry>>();
  private readonly clients = new Set<Client>();
  private readonly idleMs: number;
  private closing = false;

  constructor(private readonly opts: PoolOptions) {
    this.idleMs = opts.idleMs ?? 30_000;
  }

  /** A live connection for `t`, opened when none is pooled; `release` it when done. */
  async acquire(t: SftpTarget, signal: AbortSignal): Promise<Connection> {
    if (this.closing) throw new Error('the sftp transport is closed');
    if (!t.hostKey && !t.insecureSkipHostKeyVerification) {
      throw new SftpConfigError(
        'no hostKey configured: set data.hostKey to the server key fingerprint (SHA256:..., from `ssh-keygen -lf`), or data.insecureSkipHostKeyVerification: true',
      );
    }
    const key = keyOf(t);
    let pending = this.entries.get(key);
    if (!pending) {
      // Shared by every send to this target, so it runs on its own deadline rather than one caller's signal.
      pending = this.open(key, t);
      this.entries.set(key, pending);
      pending.catch(() => {
        if (this.entries.get(key) === pending) this.entries.delete(key);
      });
    }
    const entry = await raceSignal(pending, signal);
    if (entry.closed) {
      // Closed between the lookup and now; the next attempt opens a fresh one.
      throw new Error('the pooled SSH connection closed');
    }
    entry.active++;
    if (entry.idle) clearTimeout(entry.idle);
    entry.idle = undefined;
    return entry;
  }

  release(c: Connection): void {
    const entry = c as Entry;
    entry.active--;
    if (entry.active === 0 && !entry.closed) {
      entry.idle = setTimeout(() => this.discard(entry), this.idleMs);
      entry.idle.unref();
    }
  }

  /** Closes a connection now (after an error or a stuck operation). */
  discard(c: Connection): void {
    const entry = c as Entry;
    entry.closed = true;
    if (entry.idle) clearTimeout(entry.idle);
    void this.entries.get(entry.key)?.then((e) => {
      if (e === entry) this.entries.delete(entry.key);
    });
    entry.client.end();
  }

  async close(): Promise<void> {
    this.closing = true;
    const ended = [...this.clients].map(
      (c) =>
        new Promise<void>((resolve) => {
          c.once('close', () => resolve());
          c.end();
          // A client stuck in its handshake may never emit close after end().
          setTimeout(() => {
            c.destroy();
            resolve();
          }, 1000).unref();
        }),
    );
    await Promise.all(ended);
    this.entries.clear();
  }

  private async open(key: string, t: SftpTarget): Promise<Entry> {
    const sock = await this.opts.guard.connect(
      t.host,
      t.port,
      AbortSignal.timeout(this.opts.handshakeTimeoutMs),
    );
    const client = new Client();
    this.clients.add(client);
    let mismatch: HostKeyMismatchError | undefined;
    const expected = t.hostKey ? normalizeFingerprint(t.hostKey) : undefined;
    return new Promise<Entry>((resolve, reject) => {
      let ready = false;
      const entry: Partial<Entry> = { key, client, active: 0, closed: false };
      const gone = () => {
        entry.closed = true;
        if (entry.idle) clearTimeout(entry.idle);
        this.clients.delete(client);
        if (ready) {
          void this.entries.get(key)?.then((e) => {
            if (e === entry) this.entries.delete(key);
          });
        }
      };
      client.on('error', (err) => {
        gone();
        if (!ready) reject(mismatch ?? err);
      });
      client.on('close', () => {
        gone();
        if (!ready) reject(mismatch ?? new Error('the SSH connection closed during the handshake'));
      });
      client.on('ready', () => {
        client.sftp((err, sftp) => {
          if (err) {
            client.end();
            reject(err);
            return;
          }
          ready = true;
          entry.sftp = sftp;
          sftp.on('close', () => client.end());
          resolve(entry as Entry);
        });
      });
      client.connect({
        sock,
        username: t.user,
        password: t.password,
        privateKey: t.privateKey,
        passphrase: t.passphrase,
        readyTimeout: this.opts.handshakeTimeoutMs,
        keepaliveInterval: 10_000,
        keepaliveCountMax: 3,
        hostVerifier: (raw: Buffer) => {
          if (t.insecureSkipHostKeyVerification) return true;
          const presented = hostKeyFingerprint(raw);
          if (presented === expected) return true;
          mismatch = new HostKeyMismatchError(presented, expected ?? '(none)');
          return false;
        },
      });
    });
  }
}
