/**
 * Issue 13, acceptance 4: with `security.secretsKey` set, the SQLite file and
 * its WAL, grepped for every secret set through the API, show none; the
 * webhooks still deliver with them, survive a restart, and a key rotation
 * (`security.previousSecretsKeys`) re-seals them on write. Without a key
 * hookd starts, warns once, and `/readyz` names the check.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { makeDirs, type RunningHookd, startHookd, type TestDirs } from '../../helpers/hookd.ts';
import { type Receiver, startReceiver } from '../../helpers/receiver.ts';
import { Client, deliveriesWhen, publish, tokens } from './helpers.ts';

const S = {
  signing: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  header: 'hdr-secret-at-rest-7f3a9c1e',
  basicPassword: 'basic-pw-at-rest-51d0c2e8',
  bearer: 'bearer-tok-at-rest-a4b29f77',
  clientSecret: 'client-secret-at-rest-c9f4e2a6',
  sftpPassword: 'sftp-pw-at-rest-3e7d1b90',
  privateKey:
    '-----BEGIN OPENSSH PRIVATE KEY-----\nkey-body-at-rest-6a2f8c41\n-----END OPENSSH PRIVATE KEY-----',
  passphrase: 'passphrase-at-rest-e5c7a032',
  smtpPassword: 'smtp-pw-at-rest-92b6d4f1',
  natsToken: 'nats-token-at-rest-18c3e5a7',
  natsPass: 'nats-pass-at-rest-4d9f0b62',
  soSecret: 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD',
  contensisHeader: 'contensis-at-rest-8vdsdvj',
  replaced: 'whsec_g6OIeuJ3Zy9Z+mrATZkyvuUV3FCw1Jj1',
  rotated: 'whsec_Zm9ydHktdHdvIGJ5dGVzIG9mIGEgcm90YXRlZCBrZXk=',
  late: 'bearer-set-before-the-key-71c2e0d4',
};
/** Seed 004: the OAuth2 client id is not secret (shown, stored as is). */
const CLIENT_ID = 'client-id-at-rest-0b8e61d3';

const KEY1 = randomBytes(32).toString('base64');
const KEY2 = randomBytes(32).toString('base64');

let receiver: Receiver;
let dirs: TestDirs;
let hookd: RunningHookd | undefined;

before(async () => {
  receiver = await startReceiver();
  dirs = makeDirs();
});

after(async () => {
  await hookd?.stop();
  await receiver?.close();
  dirs?.cleanup();
});

const start = async (security: Record<string, unknown>) => {
  await hookd?.stop();
  hookd = await startHookd({ dirs, config: { api: { tokens: tokens() }, security } });
  return { h: hookd, api: new Client(hookd.url) };
};

/** The store's files as they are on disk (the database and its write-ahead log), as text. */
function storeFiles(): string {
  return [dirs.storePath, `${dirs.storePath}-wal`]
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f).toString('latin1'))
    .join('\n');
}

function assertNoSecretOnDisk(names: (keyof typeof S)[]) {
  const disk = storeFiles();
  assert.ok(disk.length > 4096, 'the store files were read');
  for (const name of names) {
    const value = S[name];
    const escaped = JSON.stringify(value).slice(1, -1);
    assert.ok(
      !disk.includes(value) && !disk.includes(escaped),
      `the store holds the ${name} secret in clear`,
    );
  }
}

let signedId = '';

test('with security.secretsKey no secret set through the API is in the SQLite file or its WAL', async () => {
  const { h, api } = await start({ secretsKey: KEY1 });
  const create = async (path: string, body: Record<string, unknown>, status = 201) => {
    const r = await api.post<Record<string, unknown> & { id: string }>(path, body);
    assert.equal(r.status, status, r.text);
    return r.body;
  };
  const signed = await create('/v1/webhooks', {
    identifier: 'signed',
    url: `${receiver.url}/signed`,
    events: ['rest.*'],
    secret: S.signing,
    headers: { 'X-Api-Key': { value: S.header, secret: true } },
    authentication: { type: 'basic', username: 'user', password: S.basicPassword },
  });
  signedId = signed.id;
  await create('/v1/webhooks', {
    url: `${receiver.url}/b`,
    authentication: { type: 'bearer', token: S.bearer },
  });
  await create('/v1/webhooks', {
    hooks: [{ type: 'rest.oauth', method: 'POST', endpoint: `${receiver.url}/oauth` }],
    authentication: {
      grant_type: 'client_credentials',
      endpoint: `${receiver.url}/token`,
      credentials: { client_id: CLIENT_ID, client_secret: S.clientSecret },
    },
  });
  await create('/v1/webhooks', {
    type: 'sftp',
    data: {
      host: '127.0.0.1',
      user: 'u',
      password: S.sftpPassword,
      privateKey: S.privateKey,
      passphrase: S.passphrase,
    },
  });
  await create('/v1/webhooks', {
    type: 'email',
    data: {
      host: '127.0.0.1',
      auth: { user: 'm', pass: S.smtpPassword },
      from: 'a@example.com',
      to: 'b@example.com',
    },
  });
  await create('/v1/webhooks', {
    type: 'nats',
    data: { url: 'nats://127.0.0.1:1', subject: 'x', token: S.natsToken, user: 'n', pass: S.natsPass },
  });
  await create(
    '/api/v1/Agents/Webhook/SaveWebhook',
    { WebhookId: 0, Name: 'so', TargetUrl: `${receiver.url}/so`, Events: ['rest.so'], Secret: S.soSecret },
    200,
  );
  await create('/api/management/projects/p/events/webhooks/subscriptions', {
    name: { 'en-GB': 'sub' },
    url: `${receiver.url}/sub`,
    headers: { secretHeaderSet: { secret: true, value: S.contensisHeader } },
  });

  // They are in force: a delivery carries the secrets.
  await publish(h, [{ id: 'rest-1', type: 'rest.x', data: {} }]);
  await deliveriesWhen(api, signedId, (d) => d.length === 1 && d[0]!.state === 'succeeded');
  const hit = receiver.requests.find((r) => r.url === '/signed')!;
  assert.equal(hit.headers['x-api-key'], S.header);
  new StandardWebhook(S.signing).verify(hit.body, hit.headers as Record<string, string>);

  assertNoSecretOnDisk(
    Object.keys(S).filter((k) => k !== 'replaced' && k !== 'rotated' && k !== 'late') as (keyof typeof S)[],
  );
  assert.ok(storeFiles().includes('enc:v1:'), 'the secrets are stored sealed');
});

test('a restart under a rotated key reads the sealed secrets, and a write re-seals them under the new key', async () => {
  const { h, api } = await start({ secretsKey: KEY2, previousSecretsKeys: [KEY1] });
  const all = await api.get<{ items: unknown[] }>('/v1/webhooks?limit=1000');
  const webhookCount = all.body.items.length;
  assert.ok(webhookCount >= 8, all.text);
  const got = await api.get<Record<string, unknown>>(`/v1/webhooks/${signedId}`);
  assert.equal(got.status, 200, got.text);
  await publish(h, [{ id: 'rest-2', type: 'rest.x', data: {} }]);
  await deliveriesWhen(api, signedId, (d) => d.length === 2 && d.every((x) => x.state === 'succeeded'));
  const hit = receiver.requests.filter((r) => r.url === '/signed').at(-1)!;
  new StandardWebhook(S.signing).verify(hit.body, hit.headers as Record<string, string>);

  const put = await api.put(`/v1/webhooks/${signedId}`, { ...got.body, secret: S.replaced });
  assert.equal(put.status, 200, put.text);
  assertNoSecretOnDisk(['replaced', 'header', 'basicPassword']);
  // A rotation keeps the replaced secret signing for the overlap: it is sealed like the current one.
  const rot = await api.post(`/v1/webhooks/${signedId}/secret/rotate`, { secret: S.rotated });
  assert.equal(rot.status, 200, rot.text);
  assert.equal((rot.body.previousSecrets as unknown[]).length, 1);
  assertNoSecretOnDisk(['replaced', 'rotated']);

  // The restart under the new key re-sealed every stored webhook: the previous key can go.
  const next = await start({ secretsKey: KEY2 });
  const list = await next.api.get<{ items: unknown[] }>('/v1/webhooks?limit=1000');
  assert.equal(list.body.items.length, webhookCount, 'every API webhook loads without the previous key');
  assert.equal(
    next.h.logs.filter((l) => l.msg === 'a stored API webhook cannot be decrypted and is not loaded').length,
    0,
  );

  // Under a key that sealed none of them, each is reported and left out, not loaded with a sealed secret.
  const wrong = await start({ secretsKey: KEY1 });
  const unreadable = wrong.h.logs.filter(
    (l) => l.msg === 'a stored API webhook cannot be decrypted and is not loaded',
  );
  assert.equal(unreadable.length, webhookCount, JSON.stringify(unreadable));
  assert.match(
    JSON.stringify(unreadable[0]),
    /neither security.secretsKey nor one of security.previousSecretsKeys/,
  );
});

test('secrets stored before a key was set are encrypted when hookd starts with one', async () => {
  const { api } = await start({});
  // A fresh webhook without a key: stored in clear, which the grep must be able to see.
  const r = await api.post<{ id: string }>('/v1/webhooks', {
    url: `${receiver.url}/late`,
    authentication: { type: 'bearer', token: S.late },
  });
  assert.equal(r.status, 201, r.text);
  await hookd!.stop();
  hookd = undefined;
  assert.ok(storeFiles().includes(S.late), 'without a key the secret is stored in clear');
  const keyed = await start({ secretsKey: KEY2 });
  assert.ok(keyed.h.logs.some((l) => l.msg === 'API webhook secrets re-encrypted under security.secretsKey'));
  await hookd!.stop();
  hookd = undefined;
  assertNoSecretOnDisk(['late']);
});

test('without a key hookd starts, warns once, and /readyz names the check without failing', async () => {
  const { h } = await start({});
  const warnings = h.logs.filter((l) => String(l.msg).startsWith('security.secretsKey is not set'));
  assert.equal(warnings.length, 1, JSON.stringify(h.logs));
  const r = await fetch(`${h.url}/readyz`);
  const body = (await r.json()) as { checks: Record<string, boolean>; warnings: Record<string, string> };
  assert.equal(r.status, 200);
  assert.equal(body.checks.secretsKey, false);
  assert.match(body.warnings.secretsKey!, /HOOKD_SECURITY_SECRETS_KEY/);
});
