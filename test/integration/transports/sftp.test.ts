/**
 * The sftp transport against a real OpenSSH sshd on loopback: host key
 * verification, atomic uploads when the upload dies half way, connection
 * reuse, and seed 000's example webhook (type `sftp-document`, password
 * login) going through the real rule loader and template renderer.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import pino from 'pino';
import { loadRuleFiles } from '../../../src/rules/load.ts';
import type { HookEvent } from '../../../src/source/event.ts';
import { compileWebhookTemplates } from '../../../src/templates/index.ts';
import type { HostContext, NetworkHooks } from '../../../src/transports/contract.ts';
import { TransportRegistry } from '../../../src/transports/registry.ts';
import { createSftp, sftpTransport } from '../../../src/transports/sftp/index.ts';
import { loopbackOnlyNetwork } from '../../conformance/peers/network.ts';
import { makeDelivery } from '../../conformance/peers/peer.ts';
import { usePeers } from '../../helpers/peers.ts';
import { PASSWORD_USER, passwordUser, type Sshd } from '../../helpers/sshd.ts';
import { waitFor } from '../../helpers/wait.ts';

const ctx = (network: NetworkHooks = loopbackOnlyNetwork()): HostContext => ({
  logger: pino({ level: 'silent' }),
  timeoutMs: 10_000,
  security: { allowPrivateNetworks: true, allowList: [] },
  network,
});

function sftpDelivery(sshd: Sshd, directory: string, body: string, data: Record<string, unknown> = {}) {
  const d = makeDelivery(
    'sftp',
    {
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      privateKey: sshd.privateKey,
      hostKey: sshd.hostKey,
      directory,
      ...data,
    },
    { body, fields: { directory } },
  );
  d.eventId = `ev-${d.id.slice(0, 8)}`;
  return d;
}

/**
 * A loopback TCP relay in front of sshd that the test can freeze: once frozen,
 * nothing more the client sends reaches the server, so an upload is stuck
 * half way for as long as the test wants.
 */
async function startRelay(
  targetPort: number,
): Promise<{ port: number; freeze(): void; thaw(): void; stop(): Promise<void> }> {
  let frozen = false;
  const held: { socket: Socket; chunk: Buffer }[] = [];
  const pairs = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = netConnect(targetPort, '127.0.0.1');
    pairs.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      if (frozen) held.push({ socket: upstream, chunk });
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
      for (const h of held.splice(0)) h.socket.write(h.chunk);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of pairs) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Resolves with the first `.part` file name that appears in `dir`; fails after 30 s saying what is there. */
function partFileAppears(dir: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      w.close();
      reject(
        new Error(`waited ${timeoutMs} ms for a .part file in ${dir}; saw ${readdirSync(dir).join(', ')}`),
      );
    }, timeoutMs);
    const w = watch(dir, (_event, name) => {
      if (name?.endsWith('.part')) {
        clearTimeout(timer);
        w.close();
        resolve(name);
      }
    });
  });
}

describe('sftp transport', () => {
  let sshd: Sshd;
  const peers = usePeers();
  before(async () => {
    sshd = await peers.sshd();
  });

  it('refuses a server whose host key does not match, before logging in', async () => {
    const t = createSftp(ctx());
    try {
      const wrong = 'SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8';
      const r = await t.send(
        sftpDelivery(sshd, 'hostkey', '{}', { hostKey: wrong }),
        AbortSignal.timeout(10_000),
      );
      assert.equal(r.outcome, 'permanent');
      assert.equal(
        r.outcome === 'permanent' ? r.error : '',
        `host key mismatch: the server presented ${sshd.hostKey}, expected ${wrong}`,
      );
      assert.equal(existsSync(join(sshd.root, 'hostkey')), false);
      assert.doesNotMatch(sshd.log(), /Accepted publickey/);
    } finally {
      await t.close();
    }
  });

  it('needs a hostKey unless skipping verification is explicit', async () => {
    const t = createSftp(ctx());
    try {
      const missing = await t.send(
        sftpDelivery(sshd, 'nokey', '{}', { hostKey: undefined }),
        AbortSignal.timeout(10_000),
      );
      assert.equal(missing.outcome, 'permanent');
      assert.match(missing.outcome === 'permanent' ? missing.error : '', /no hostKey configured/);
      const skipped = await t.send(
        sftpDelivery(sshd, 'nokey', '{"ok":true}', {
          hostKey: undefined,
          insecureSkipHostKeyVerification: true,
        }),
        AbortSignal.timeout(10_000),
      );
      assert.equal(skipped.outcome, 'success', JSON.stringify(skipped));
    } finally {
      await t.close();
    }
  });

  it('reuses one SSH connection for sequential and concurrent uploads to the same server', async () => {
    const t = createSftp(ctx());
    try {
      const logins = sshd.logins();
      for (let i = 0; i < 3; i++) {
        const r = await t.send(sftpDelivery(sshd, 'pooled', `{"i":${i}}`), AbortSignal.timeout(10_000));
        assert.equal(r.outcome, 'success');
      }
      const all = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          t.send(sftpDelivery(sshd, 'pooled', `{"c":${i}}`), AbortSignal.timeout(10_000)),
        ),
      );
      assert.ok(all.every((r) => r.outcome === 'success'));
      assert.equal(readdirSync(join(sshd.root, 'pooled')).length, 13);
      assert.equal(sshd.logins() - logins, 1);
    } finally {
      await t.close();
    }
  });

  it('closes an idle connection and opens a new one for the next upload', async () => {
    const t = createSftp(ctx(), { idleMs: 50 });
    try {
      const logins = sshd.logins();
      const disconnects = () => sshd.log().match(/Disconnected from user/g)?.length ?? 0;
      const before = disconnects();
      assert.equal(
        (await t.send(sftpDelivery(sshd, 'idle', '{}'), AbortSignal.timeout(10_000))).outcome,
        'success',
      );
      // The pool ends the connection once it has been idle; sshd logs the disconnect.
      await waitFor('sshd to log the idle connection’s disconnect', () => disconnects() > before, {
        intervalMs: 20,
        saw: () => sshd.log().slice(-2000),
      });
      assert.equal(
        (await t.send(sftpDelivery(sshd, 'idle', '{}'), AbortSignal.timeout(10_000))).outcome,
        'success',
      );
      assert.equal(sshd.logins() - logins, 2);
    } finally {
      await t.close();
    }
  });

  it('a server on loopback is refused by the default SSRF settings, before connecting', async () => {
    const network = loopbackOnlyNetwork();
    const t = createSftp({ ...ctx(network), security: { allowPrivateNetworks: false, allowList: [] } });
    try {
      const r = await t.send(sftpDelivery(sshd, 'ssrf', '{}'), AbortSignal.timeout(10_000));
      assert.equal(r.outcome, 'permanent');
      assert.match(
        r.outcome === 'permanent' ? r.error : '',
        /refused to connect to 127\.0\.0\.1: a loopback address/,
      );
      assert.deepEqual(network.dialed, []);
    } finally {
      await t.close();
    }
  });

  it('writes file names and content from templates, and replaces a file a retry writes again', async () => {
    const t = createSftp(ctx());
    try {
      const doc = Buffer.from('%PDF-1.4 not really').toString('base64');
      const d = sftpDelivery(sshd, 'docs', '{}', {
        fileName: 'invoice-{/data/n}.pdf',
        content: '{/data/doc}',
        contentEncoding: 'base64',
      });
      d.request.fields = { directory: 'docs', fileName: 'invoice-42.pdf', content: doc };
      assert.equal((await t.send(d, AbortSignal.timeout(10_000))).outcome, 'success');
      assert.equal(readFileSync(join(sshd.root, 'docs/invoice-42.pdf'), 'utf8'), '%PDF-1.4 not really');
      d.request.fields.content = Buffer.from('second').toString('base64');
      assert.equal((await t.send(d, AbortSignal.timeout(10_000))).outcome, 'success');
      assert.equal(readFileSync(join(sshd.root, 'docs/invoice-42.pdf'), 'utf8'), 'second');
      assert.deepEqual(readdirSync(join(sshd.root, 'docs')), ['invoice-42.pdf']);
    } finally {
      await t.close();
    }
  });

  it('refuses rendered paths that climb out with ".."', async () => {
    const t = createSftp(ctx());
    try {
      const d = sftpDelivery(sshd, 'in/{/data/x}', '{}');
      d.request.fields.directory = 'in/../../etc';
      const r = await t.send(d, AbortSignal.timeout(10_000));
      assert.equal(r.outcome, 'permanent');
      assert.match(r.outcome === 'permanent' ? r.error : '', /"\.\." segment/);
    } finally {
      await t.close();
    }
  });

  describe('an upload that dies half way leaves no file under the final name', () => {
    const big = JSON.stringify({ blob: 'x'.repeat(8 * 1024 * 1024) });

    it('when sshd is killed mid-upload', async (c) => {
      const local = usePeers((fn) => c.after(fn));
      const victim = await local.sshd();
      const relay = await local.start(
        'relay',
        () => startRelay(victim.port),
        (r) => r.stop(),
      );
      const loopback = loopbackOnlyNetwork();
      const network: NetworkHooks = {
        lookup: loopback.lookup,
        // Every connection goes through the freezable relay.
        connect: (o) => loopback.connect({ host: o.host, port: relay.port }),
      };
      const t = createSftp(ctx(network));
      try {
        const d = sftpDelivery(victim, 'kill', big);
        const dir = join(victim.root, 'kill');
        // The directory must exist to watch it; the upload finds it there.
        const prepare = sftpDelivery(victim, 'kill', '{}');
        prepare.eventId = 'prepare';
        assert.equal((await t.send(prepare, AbortSignal.timeout(10_000))).outcome, 'success');
        const appeared = partFileAppears(dir);
        const sending = t.send(d, AbortSignal.timeout(30_000));
        await appeared;
        relay.freeze();
        await victim.kill();
        relay.thaw();
        const r = await sending;
        assert.equal(r.outcome, 'retryable', JSON.stringify(r));
        assert.equal(existsSync(join(dir, `${d.eventId}.json`)), false);
      } finally {
        await t.close();
      }
    });

    it('when the signal aborts mid-upload (and the temp file is removed)', async (c) => {
      const relay = await usePeers((fn) => c.after(fn)).start(
        'relay',
        () => startRelay(sshd.port),
        (r) => r.stop(),
      );
      const loopback = loopbackOnlyNetwork();
      const t = createSftp(
        ctx({
          lookup: loopback.lookup,
          connect: (o) => loopback.connect({ host: o.host, port: relay.port }),
        }),
      );
      try {
        const prepare = sftpDelivery(sshd, 'abort', '{}');
        assert.equal((await t.send(prepare, AbortSignal.timeout(10_000))).outcome, 'success');
        const dir = join(sshd.root, 'abort');
        const d = sftpDelivery(sshd, 'abort', big);
        const ac = new AbortController();
        const appeared = partFileAppears(dir);
        const sending = t.send(d, ac.signal);
        const part = await appeared;
        relay.freeze();
        ac.abort();
        const r = await sending;
        assert.equal(r.outcome, 'retryable');
        assert.match(r.outcome === 'retryable' ? r.error : '', /aborted/);
        relay.thaw();
        // The upload stops at its next write and removes its temp file once the server answers again.
        await waitFor(`the temp file ${part} to be removed`, () => !existsSync(join(dir, part)), {
          intervalMs: 20,
          saw: () => readdirSync(dir),
        });
        assert.equal(existsSync(join(dir, `${d.eventId}.json`)), false);
        assert.deepEqual(readdirSync(dir), [`${prepare.eventId}.json`]);
      } finally {
        await t.close();
      }
    });
  });
});

describe('seed 000: the example sftp-document webhook', () => {
  const isRoot = process.getuid?.() === 0;

  it('delivers a file to the templated directory with password login', {
    skip: !isRoot && 'needs root to create the password account',
  }, async (c) => {
    const account = passwordUser();
    const local = usePeers((fn) => c.after(fn));
    const sshd = await local.sshd({ rootOwner: PASSWORD_USER });
    const rules = mkdtempSync(join(tmpdir(), 'hookd-seed000-'));
    local.defer('rule dir', () => rmSync(rules, { recursive: true, force: true }));
    const t = createSftp(ctx());
    try {
      // Seed 000's body as written, with host, port, user and password of the test server, a
      // placeholder in the directory (the seed's path plus the event type), and the host key.
      const seed = {
        identifier: 'my-webhook',
        type: 'sftp-document',
        priority: 1,
        data: {
          host: sshd.host,
          user: account.user,
          password: account.password,
          directory: 'sftp-directory/sub-directory/{/type}',
          port: sshd.port,
          hostKey: sshd.hostKey,
        },
        active: true,
        activeFrom: '2024-01-01',
        groupIdentifier: 'my_group',
        groupCondition: "data['contract']['balance'] > 0",
      };
      writeFileSync(join(rules, 'seed000.yaml'), JSON.stringify({ webhooks: [seed] }));
      const loaded = loadRuleFiles(rules, new TransportRegistry());
      assert.deepEqual(loaded.problems, []);
      const [webhook] = loaded.webhooks;
      assert.equal(webhook.type, 'sftp');
      assert.equal(webhook.typeName, 'sftp-document');

      const event: HookEvent = {
        id: 'evt-000-1',
        type: 'invoice.created',
        subject: 'events.invoice',
        body: { id: 'evt-000-1', type: 'invoice.created', data: { contract: { balance: 12 } } },
        data: { contract: { balance: 12 } },
        extensions: {},
        receivedAt: Date.now(),
      };
      const request = await compileWebhookTemplates(webhook, {
        templateFields: sftpTransport.templateFields,
      }).render(event);
      assert.equal(request.fields.directory, 'sftp-directory/sub-directory/invoice.created');
      const d = {
        id: '0f8fad5b-d9cb-469f-a165-70867728950e',
        eventId: event.id,
        eventType: event.type,
        attempt: 1,
        webhook,
        request,
      };
      const r = await t.send(d, AbortSignal.timeout(10_000));
      assert.equal(r.outcome, 'success', JSON.stringify(r));
      const file = join(sshd.root, 'sftp-directory/sub-directory/invoice.created/evt-000-1.json');
      assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), event.body);
      assert.match(sshd.log(), new RegExp(`Accepted password for ${PASSWORD_USER}`));
    } finally {
      await t.close();
    }
  });
});
