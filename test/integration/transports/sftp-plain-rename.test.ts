/**
 * Issue 13, failure 7: SFTP's fallback to plain rename never ran. The upload
 * tested the error text for /not supported/ while ssh2 says "Server does not
 * support this extended request", so every upload to a server without
 * `posix-rename@openssh.com` failed. The peer here is a real SFTP server
 * without that extension: an `ssh2` SSH server on a free loopback port that
 * runs OpenSSH's own `sftp-server` for each session and removes
 * `posix-rename@openssh.com` from the extensions it announces.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import ssh2 from 'ssh2';
import type { HostContext } from '../../../src/transports/contract.ts';
import { createSftp } from '../../../src/transports/sftp/index.ts';
import { loopbackOnlyNetwork } from '../../conformance/peers/network.ts';
import { makeDelivery } from '../../conformance/peers/peer.ts';

const SFTP_SERVER = '/usr/lib/openssh/sftp-server';
const DROPPED = 'posix-rename@openssh.com';

/** SSH string: uint32 length + bytes. */
function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/**
 * Rewrites the server's first packet (SSH_FXP_VERSION: uint32 length, byte 2,
 * uint32 version, then extension name/data pairs) without `DROPPED`; the
 * rest of the stream passes unchanged. Returns the names it announced.
 */
function withoutExtension(first: Buffer): { packet: Buffer; announced: string[] } {
  const length = first.readUInt32BE(0);
  assert.equal(first[4], 2, 'the first packet is SSH_FXP_VERSION');
  const parts: Buffer[] = [first.subarray(4, 9)];
  const announced: string[] = [];
  let at = 9;
  while (at < 4 + length) {
    const nameLen = first.readUInt32BE(at);
    const name = first.subarray(at + 4, at + 4 + nameLen);
    const dataAt = at + 4 + nameLen;
    const dataLen = first.readUInt32BE(dataAt);
    const data = first.subarray(dataAt + 4, dataAt + 4 + dataLen);
    at = dataAt + 4 + dataLen;
    if (name.toString() === DROPPED) continue;
    announced.push(name.toString());
    parts.push(sshString(name), sshString(data));
  }
  const body = Buffer.concat(parts);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return { packet: Buffer.concat([len, body, first.subarray(4 + length)]), announced };
}

interface Peer {
  port: number;
  root: string;
  hostKey: string;
  announced: string[][];
  stop(): Promise<void>;
}

async function startPeer(): Promise<Peer> {
  const root = mkdtempSync(join(tmpdir(), 'hookd-sftp-plain-'));
  const keys = ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 });
  const blob = Buffer.from(keys.public.split(' ')[1]!, 'base64');
  const hostKey = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
  const announced: string[][] = [];
  const children = new Set<ReturnType<typeof spawn>>();
  const server = new ssh2.Server({ hostKeys: [keys.private] }, (client) => {
    client.on('error', () => {});
    client.on('authentication', (ctx) =>
      ctx.method === 'password' && ctx.username === 'u' && ctx.password === 'p'
        ? ctx.accept()
        : ctx.reject(['password']),
    );
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('subsystem', (accept, reject, info) => {
          if (info.name !== 'sftp') return reject();
          const channel = accept();
          const child = spawn(SFTP_SERVER, ['-d', root], { stdio: ['pipe', 'pipe', 'ignore'] });
          children.add(child);
          child.on('exit', () => {
            children.delete(child);
            channel.end();
          });
          channel.pipe(child.stdin);
          channel.on('close', () => child.kill());
          let pending: Buffer | undefined = Buffer.alloc(0);
          child.stdout.on('data', (chunk: Buffer) => {
            if (!pending) return channel.write(chunk);
            pending = Buffer.concat([pending, chunk]);
            if (pending.length < 4 || pending.length < 4 + pending.readUInt32BE(0)) return;
            const { packet, announced: names } = withoutExtension(pending);
            announced.push(names);
            pending = undefined;
            channel.write(packet);
          });
        });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    root,
    hostKey,
    announced,
    stop: async () => {
      for (const c of children) c.kill();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}

const ctx = (): HostContext => ({
  logger: pino({ level: 'silent' }),
  timeoutMs: 10_000,
  security: { allowPrivateNetworks: true, allowList: [] },
  network: loopbackOnlyNetwork(),
});

describe('sftp upload to a server without posix-rename', () => {
  let peer: Peer;
  before(async () => {
    peer = await startPeer();
  });
  after(() => peer?.stop());

  const delivery = (body: string) => {
    const d = makeDelivery(
      'sftp',
      {
        host: '127.0.0.1',
        port: peer.port,
        user: 'u',
        password: 'p',
        hostKey: peer.hostKey,
        directory: 'in',
      },
      { body, fields: { directory: 'in', fileName: 'report.json' } },
    );
    return d;
  };

  it('uploads with a plain rename, and a retry replaces the file it left', async () => {
    const t = createSftp(ctx());
    try {
      const first = await t.send(delivery('{"n":1}'), AbortSignal.timeout(20_000));
      assert.equal(first.outcome, 'success', JSON.stringify(first));
      assert.ok(peer.announced.length > 0, 'a session was served');
      assert.ok(!peer.announced[0]!.includes(DROPPED), `announced: ${peer.announced[0]}`);
      assert.ok(peer.announced[0]!.includes('fsync@openssh.com'), 'the other extensions are kept');
      assert.equal(readFileSync(join(peer.root, 'in', 'report.json'), 'utf8'), '{"n":1}');

      // The same name again (a retry after a lost answer): SFTP v3 rename refuses an existing target.
      const second = await t.send(delivery('{"n":2}'), AbortSignal.timeout(20_000));
      assert.equal(second.outcome, 'success', JSON.stringify(second));
      assert.equal(readFileSync(join(peer.root, 'in', 'report.json'), 'utf8'), '{"n":2}');
      assert.deepEqual(readdirSync(join(peer.root, 'in')), ['report.json'], 'no temporary file is left');
    } finally {
      await t.close();
    }
  });
});
