/**
 * Issue 16, acceptance 2 (Standard Webhooks): secrets are validated (400
 * naming the field), `POST /v1/webhooks/{id}/secret/rotate` keeps the old
 * secret signing beside the new one for `delivery.secretOverlap`, so every
 * attempt in that time verifies with either secret by the `standardwebhooks`
 * library, and a `whsk_` webhook signs `v1a` with Ed25519, verifiable with
 * `crypto.verify` against the `whpk_` key its view publishes.
 */
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { before, test } from 'node:test';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import type { RunningHookd } from '../../helpers/hookd.ts';
import { usePeers } from '../../helpers/peers.ts';
import type { Received, Receiver } from '../../helpers/receiver.ts';
import {
  Client,
  type DeliveryView,
  deliveriesWhen,
  publish,
  tokens,
  undocumentedStatuses,
  until,
} from './helpers.ts';

const OLD = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const NEW = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
const HOUR = 3_600_000;

let receiver: Receiver;
let hookd: RunningHookd;
let api: Client;
/** Status to answer per path; default 200. */
const answers = new Map<string, number>();

const peers = usePeers();

before(async () => {
  receiver = await peers.receiver();
  receiver.respond((req) => ({ status: answers.get(req.url) ?? 200 }));
  hookd = await peers.hookd({ config: { api: { tokens: tokens() }, delivery: { secretOverlap: '2h' } } });
  api = new Client(hookd.url);
});

const at = (path: string) => receiver.requests.filter((r) => r.url === path);
const headersOf = (r: Received) => r.headers as Record<string, string>;

/** Verifies with the `standardwebhooks` library; throws when the secret signed none of the entries. */
const verifiesWith = (secret: string, r: Received) =>
  new StandardWebhook(secret).verify(r.body, headersOf(r));

/** An Ed25519 `whsk_` secret: base64 of the 32-byte seed. */
function ed25519Secret(): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return `whsk_${Buffer.from(String(privateKey.export({ format: 'jwk' }).d), 'base64url').toString('base64')}`;
}

/** Verifies a `v1a` entry of the request with `crypto.verify` (Ed25519: algorithm null) against a published `whpk_` key. */
function verifiesV1a(whpk: string, r: Received): boolean {
  assert.match(whpk, /^whpk_[A-Za-z0-9+/]+=*$/);
  const key = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(whpk.slice(5), 'base64').toString('base64url') },
    format: 'jwk',
  });
  const h = headersOf(r);
  const content = Buffer.from(`${h['webhook-id']}.${h['webhook-timestamp']}.${r.body}`);
  return h['webhook-signature']!.split(' ').some((entry) => {
    const [scheme, sig] = entry.split(',');
    return scheme === 'v1a' && verify(null, content, key, Buffer.from(sig!, 'base64'));
  });
}

test('bad secrets are 400 naming the field, through create, replace and rotate', async () => {
  const bad = [
    ['whsec_', Buffer.from('short').toString('base64')].join(''),
    'not base64 at all!',
    'rerum',
    `whsec_${Buffer.alloc(65, 1).toString('base64')}`,
    'whsec_not base64 at all!',
    `whsk_${Buffer.alloc(16, 1).toString('base64')}`,
  ];
  for (const secret of bad) {
    const r = await api.post<{ problems: { path: string; message: string }[] }>('/v1/webhooks', {
      identifier: 'bad-secret',
      url: `${receiver.url}/never`,
      secret,
    });
    assert.equal(r.status, 400, `${secret}: ${r.text}`);
    assert.deepEqual(
      r.body.problems.map((p) => p.path),
      ['secret'],
      r.text,
    );
    assert.ok(!r.text.includes(secret), 'the 400 does not echo the secret');
  }
  const ok = await api.post<{ id: string }>('/v1/webhooks', {
    identifier: 'good-secret',
    url: `${receiver.url}/never`,
    secret: OLD,
  });
  assert.equal(ok.status, 201, ok.text);
  const put = await api.put(`/v1/webhooks/${ok.body.id}`, { url: `${receiver.url}/never`, secret: 'rerum' });
  assert.equal(put.status, 400);
  const rot = await api.post<{ problems: { path: string }[] }>(`/v1/webhooks/${ok.body.id}/secret/rotate`, {
    secret: 'whsec_c2hvcnQ=',
  });
  assert.equal(rot.status, 400, rot.text);
  assert.deepEqual(
    rot.body.problems.map((p) => p.path),
    ['secret'],
  );
});

test('during a rotation every attempt verifies with the old secret and with the new one', async () => {
  answers.set('/rot', 503);
  const c = await api.post<{ id: string }>('/v1/webhooks', {
    identifier: 'rotating',
    url: `${receiver.url}/rot`,
    events: ['rot.*'],
    secret: OLD,
    // One attempt per (re)try, so every attempt is one the test starts.
    retry: { schedule: ['0s'] },
  });
  assert.equal(c.status, 201, c.text);
  const id = c.body.id;
  await publish(hookd, [{ id: 'rot-1', type: 'rot.created', data: { n: 1 } }]);
  const [failed] = await deliveriesWhen(
    api,
    id,
    (d) => d[0]?.state === 'failed',
    'the first attempt to fail',
  );
  const before = at('/rot');
  assert.equal(before.length, 1);
  verifiesWith(OLD, before[0]!);
  assert.throws(() => verifiesWith(NEW, before[0]!), 'before the rotation only the old secret signs');

  const t0 = Date.now();
  const r = await api.post<Record<string, unknown>>(`/v1/webhooks/${id}/secret/rotate`, { secret: NEW });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.secret, { set: true });
  assert.equal(r.body.generatedSecret, undefined);
  const previous = r.body.previousSecrets as { secret: unknown; until: string }[];
  assert.deepEqual(previous[0]!.secret, { set: true });
  const until = Date.parse(previous[0]!.until);
  assert.ok(
    until >= t0 + 2 * HOUR && until <= Date.now() + 2 * HOUR,
    `overlap is delivery.secretOverlap: ${until}`,
  );
  assert.ok(!r.text.includes(OLD) && !r.text.includes(NEW), 'no secret in the response');

  // The delivery stored before the rotation is retried twice during the overlap (a failure, then a success);
  // a GET sent back through PUT on the way keeps the rotation.
  const view = await api.get(`/v1/webhooks/${id}`);
  assert.equal((await api.put(`/v1/webhooks/${id}`, view.body)).status, 200);
  assert.equal((await api.post(`/v1/deliveries/${failed!.id}/retry`)).status, 202);
  await deliveriesWhen(
    api,
    id,
    (d) => d[0]?.state === 'failed' && d[0].attemptCount === 1,
    'the retry to fail',
  );
  answers.set('/rot', 200);
  assert.equal((await api.post(`/v1/deliveries/${failed!.id}/retry`)).status, 202);
  await deliveriesWhen(
    api,
    id,
    (d: DeliveryView[]) => d[0]?.state === 'succeeded',
    'the delivery to succeed',
  );
  const during = at('/rot').slice(1);
  assert.equal(during.length, 2);
  for (const req of during) {
    assert.equal(req.headers['webhook-signature']!.toString().split(' ').length, 2, 'v1,<old> v1,<new>');
    verifiesWith(OLD, req);
    verifiesWith(NEW, req);
  }
  // The test send signs the same way.
  const n = receiver.requests.length;
  assert.equal((await api.post(`/v1/webhooks/${id}/test`)).status, 200);
  verifiesWith(OLD, receiver.requests[n]!);
  verifiesWith(NEW, receiver.requests[n]!);

  // A PUT with another secret replaces at once: only the newest signs, the rotation is over.
  const third = 'whsec_g6OIeuJ3Zy9Z+mrATZkyvuUV3FCw1Jj1';
  const replaced = await api.put(`/v1/webhooks/${id}`, { ...view.body, secret: third });
  assert.equal(replaced.status, 200, replaced.text);
  assert.equal(replaced.body.previousSecrets, undefined);
  const m = receiver.requests.length;
  assert.equal((await api.post(`/v1/webhooks/${id}/test`)).status, 200);
  verifiesWith(third, receiver.requests[m]!);
  assert.throws(() => verifiesWith(NEW, receiver.requests[m]!));
  assert.ok(!JSON.stringify(hookd.logs).includes(NEW) && !JSON.stringify(hookd.logs).includes(OLD));
});

test('a whsk_ webhook signs v1a, verifiable against the whpk_ key of its view; rotation generates a new key', async () => {
  const secret = ed25519Secret();
  const c = await api.post<{ id: string; publicKey: string; secret: unknown }>('/v1/webhooks', {
    identifier: 'ed25519',
    url: `${receiver.url}/ed`,
    events: ['ed.*'],
    secret,
  });
  assert.equal(c.status, 201, c.text);
  assert.deepEqual(c.body.secret, { set: true });
  const publicKey = c.body.publicKey;
  assert.equal((await api.get<{ publicKey: string }>(`/v1/webhooks/${c.body.id}`)).body.publicKey, publicKey);
  await publish(hookd, [{ id: 'ed-1', type: 'ed.created', data: { n: 1 } }]);
  const got = await until('the Ed25519-signed delivery', () => at('/ed')[0]);
  assert.match(String(got.headers['webhook-signature']), /^v1a,[A-Za-z0-9+/]+=*$/);
  assert.ok(verifiesV1a(publicKey, got), 'verifies with crypto.verify against the published whpk_ key');

  // Rotating without a secret generates a key of the same kind, never shown (receivers need only its
  // publicKey); both keys sign during the overlap.
  const r = await api.post<{ publicKey: string; generatedSecret?: string }>(
    `/v1/webhooks/${c.body.id}/secret/rotate`,
  );
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.generatedSecret, undefined);
  assert.doesNotMatch(r.text, /whsk_/);
  assert.notEqual(r.body.publicKey, publicKey);
  const n = receiver.requests.length;
  assert.equal((await api.post(`/v1/webhooks/${c.body.id}/test`)).status, 200);
  const sent = receiver.requests[n]!;
  assert.ok(verifiesV1a(publicKey, sent), 'the old key still signs');
  assert.ok(verifiesV1a(r.body.publicKey, sent), 'the new key signs');
});

test('rotating an HMAC secret without a body generates one, shown once, that verifies the next attempts', async () => {
  const c = await api.post<{ id: string }>('/v1/webhooks', {
    identifier: 'generated',
    url: `${receiver.url}/gen`,
    secret: OLD,
  });
  assert.equal(c.status, 201, c.text);
  const r = await api.post<{ generatedSecret: string }>(`/v1/webhooks/${c.body.id}/secret/rotate`);
  assert.equal(r.status, 200, r.text);
  assert.match(r.body.generatedSecret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  const view = await api.get(`/v1/webhooks/${c.body.id}`);
  assert.ok(!view.text.includes(r.body.generatedSecret), 'shown in the rotate answer only');
  const n = receiver.requests.length;
  assert.equal((await api.post(`/v1/webhooks/${c.body.id}/test`)).status, 200);
  verifiesWith(r.body.generatedSecret, receiver.requests[n]!);
  verifiesWith(OLD, receiver.requests[n]!);
  assert.ok(!JSON.stringify(hookd.logs).includes(r.body.generatedSecret), 'never logged');
});

test('every status answered in this file is in /openapi.json for its route (issue 16)', async () => {
  assert.deepEqual(await undocumentedStatuses(hookd.url), []);
});
