/**
 * Issue 7, acceptance 3: secrets are write-only. Every kind of secret is
 * set through the native API and the seed routes (signing secret, secret
 * header, basic password, bearer token, OAuth2 credentials, SFTP password,
 * private key and passphrase, SMTP password, NATS token and password); then
 * every route that shows a webhook is called, and no response and no log
 * line contains any of the values. Responses show that each is set, and a
 * response sent back unchanged keeps them: deliveries still carry them.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import type { RunningHookd } from '../../helpers/hookd.ts';
import { usePeers } from '../../helpers/peers.ts';
import type { Receiver } from '../../helpers/receiver.ts';
import { Client, deliveriesWhen, publish, tokens, undocumentedStatuses } from './helpers.ts';

/** Seed 004: the OAuth2 client id is not a secret; it is shown. */
const CLIENT_ID = 'client-id-0b8e61d3';

const S = {
  signing: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  header: 'hdr-secret-7f3a9c1e',
  basicPassword: 'basic-pw-51d0c2e8',
  bearer: 'bearer-tok-a4b29f77',
  clientSecret: 'client-secret-c9f4e2a6',
  sftpPassword: 'sftp-pw-3e7d1b90',
  privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nkey-body-6a2f8c41\n-----END OPENSSH PRIVATE KEY-----',
  passphrase: 'passphrase-e5c7a032',
  smtpPassword: 'smtp-pw-92b6d4f1',
  natsToken: 'nats-token-18c3e5a7',
  natsPass: 'nats-pass-4d9f0b62',
  soSecret: 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD',
  spaPassword: 'sftp-password',
  contensisHeader: 'cs7vdsdvj~8',
  webSecret: 'whsec_g6OIeuJ3Zy9Z+mrATZkyvuUV3FCw1Jj1',
};

let receiver: Receiver;
let hookd: RunningHookd;
let api: Client;

const peers = usePeers();

before(async () => {
  receiver = await peers.receiver();
  receiver.respond((req) =>
    req.url.startsWith('/token')
      ? {
          status: 200,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ access_token: 'issued-token-1', token_type: 'Bearer', expires_in: 3600 }),
        }
      : { status: 200 },
  );
  hookd = await peers.hookd({ config: { api: { tokens: tokens() } } });
  api = new Client(hookd.url);
});

const SET = { set: true };

test('no response and no log line contains a secret value; responses show which are set', async () => {
  const ids: string[] = [];
  const create = async (body: Record<string, unknown>) => {
    const r = await api.post<Record<string, unknown> & { id: string }>('/v1/webhooks', body);
    assert.equal(r.status, 201, r.text);
    ids.push(r.body.id);
    return r;
  };
  const signed = await create({
    identifier: 'signed',
    url: `${receiver.url}/signed`,
    events: ['secret.*'],
    secret: S.signing,
    headers: { 'X-Api-Key': { value: S.header, secret: true }, 'X-Plain': 'visible' },
    authentication: { type: 'basic', username: 'user', password: S.basicPassword },
  });
  assert.deepEqual(signed.body.secret, SET);
  assert.deepEqual(signed.body.headers, { 'X-Api-Key': { secret: true }, 'X-Plain': { value: 'visible' } });
  assert.deepEqual(signed.body.authentication, { type: 'basic', username: 'user', password: SET });
  const bearer = await create({
    url: `${receiver.url}/bearer`,
    authentication: { type: 'bearer', token: S.bearer },
  });
  assert.deepEqual(bearer.body.authentication, { type: 'bearer', token: SET });
  const oauth = await create({
    identifier: 'oauth',
    hooks: [{ type: 'secret.oauth', method: 'POST', endpoint: `${receiver.url}/oauth` }],
    authentication: {
      grant_type: 'client_credentials',
      endpoint: `${receiver.url}/token`,
      credentials: { client_id: CLIENT_ID, client_secret: S.clientSecret },
    },
  });
  assert.deepEqual((oauth.body.authentication as Record<string, unknown>).credentials, {
    client_id: CLIENT_ID,
    client_secret: SET,
  });
  const sftp = await create({
    type: 'sftp',
    data: {
      host: '127.0.0.1',
      user: 'u',
      password: S.sftpPassword,
      privateKey: S.privateKey,
      passphrase: S.passphrase,
    },
  });
  assert.deepEqual(
    [
      (sftp.body.data as Record<string, unknown>).password,
      (sftp.body.data as Record<string, unknown>).privateKey,
    ],
    [SET, SET],
  );
  const email = await create({
    type: 'email',
    data: {
      host: '127.0.0.1',
      auth: { user: 'mailer', pass: S.smtpPassword },
      from: 'a@example.com',
      to: 'b@example.com',
    },
  });
  assert.deepEqual((email.body.data as { auth: unknown }).auth, { user: 'mailer', pass: SET });
  const nats = await create({
    type: 'nats',
    data: {
      url: 'nats://127.0.0.1:4222',
      subject: 'hooks.x',
      token: S.natsToken,
      user: 'n',
      pass: S.natsPass,
    },
  });
  assert.deepEqual(
    [(nats.body.data as Record<string, unknown>).token, (nats.body.data as Record<string, unknown>).pass],
    [SET, SET],
  );

  // The seed routes.
  const spa = await api.post('/api/spa/webhooks', {
    identifier: 'spa-secret',
    type: 'sftp-document',
    data: { host: '127.0.0.1', user: 'sftp-user', password: S.spaPassword, directory: 'd', port: 22 },
  });
  assert.equal(spa.status, 201, spa.text);
  assert.deepEqual((spa.body.data as Record<string, unknown>).password, SET);
  const so = await api.post('/api/v1/Agents/Webhook/SaveWebhook', {
    WebhookId: 0,
    Name: 'so-secret',
    TargetUrl: `${receiver.url}/so`,
    Events: ['secret.so'],
    Secret: S.soSecret,
  });
  assert.equal(so.status, 200, so.text);
  assert.equal(so.body.Secret, '********', 'seed 001 documents Secret as a string');
  const web = await api.post<{ id: string }>('/api/web/v1/webhooks', {
    url: `${receiver.url}/web`,
    secret: S.webSecret,
  });
  assert.equal(web.status, 200, web.text);
  const sub = await api.post('/api/management/projects/p/events/webhooks/subscriptions', {
    name: { 'en-GB': 'sub' },
    url: `${receiver.url}/sub`,
    headers: { secretHeaderSet: { secret: true, value: S.contensisHeader } },
  });
  assert.equal(sub.status, 201, sub.text);
  assert.deepEqual(sub.body.headers, { secretHeaderSet: { secret: true } });

  // Every route that shows webhooks, deliveries or attempts.
  for (const id of [...ids, web.body.id]) {
    await api.get(`/v1/webhooks/${id}`);
    await api.get(`/api/web/v1/webhooks/${id}`);
    await api.get(`/v1/webhooks/${id}/deliveries`);
  }
  await api.get('/v1/webhooks?limit=1000');
  await api.get('/api/web/v1/webhooks');
  await api.get('/v1/webhooks/default');
  await api.post('/api/v1/Agents/Webhook/CreateDefaultWebhook');
  await api.post(`/v1/webhooks/${signed.body.id}/test`);
  await api.post(`/v1/webhooks/${oauth.body.id}/test`);
  await api.post(`/api/web/v1/webhooks/test/${web.body.id}`);
  await api.put(`/v1/webhooks/${signed.body.id}/state`, { state: 'Active' });
  // A bad replace that carries secrets: the 400 names paths, not values.
  const bad = await api.put(`/v1/webhooks/${signed.body.id}`, {
    url: `${receiver.url}/signed`,
    secret: S.signing,
    headers: { 'X-Api-Key': { value: S.header, secret: 'yes' } },
    authentication: { type: 'basic', username: 'user', password: S.basicPassword, extra: S.bearer },
  });
  assert.equal(bad.status, 400);
  await publish(hookd, [{ id: 'secret-evt-1', type: 'secret.oauth', data: {} }]);
  await deliveriesWhen(api, oauth.body.id, (d) => d.length === 1 && d[0]!.state === 'succeeded');

  const logs = JSON.stringify(hookd.logs);
  const responses = api.transcript.join('\n');
  assert.ok(api.transcript.length > 40, 'the responses were kept');
  assert.ok(hookd.logs.length > 10, 'the logs were captured');
  for (const [name, value] of Object.entries(S)) {
    assert.ok(!responses.includes(value), `a response contains the ${name} secret`);
    assert.ok(!logs.includes(value), `a log line contains the ${name} secret`);
    // JSON escaping (the private key's newlines) must not hide a leak either.
    const escaped = JSON.stringify(value).slice(1, -1);
    assert.ok(!responses.includes(escaped) && !logs.includes(escaped), `${name} (escaped) leaked`);
  }
});

test('a response sent back unchanged keeps the secrets: deliveries still use them', async () => {
  const c = await api.post<{ id: string }>('/v1/webhooks', {
    identifier: 'roundtrip',
    url: `${receiver.url}/roundtrip`,
    events: ['roundtrip.*'],
    secret: S.signing,
    headers: { 'X-Api-Key': { value: S.header, secret: true } },
    authentication: {
      grant_type: 'client_credentials',
      // Its own token endpoint: no token cached from the other test, so one is fetched with these credentials.
      endpoint: `${receiver.url}/token-roundtrip`,
      credentials: { client_id: CLIENT_ID, client_secret: S.clientSecret },
    },
  });
  assert.equal(c.status, 201, c.text);
  const got = await api.get<Record<string, unknown>>(`/v1/webhooks/${c.body.id}`);
  const put = await api.put<Record<string, unknown> & { version: { versionNo: number } }>(
    `/v1/webhooks/${c.body.id}`,
    { ...got.body, url: `${receiver.url}/roundtrip2` },
  );
  assert.equal(put.status, 200, put.text);
  assert.equal(put.body.version.versionNo, 2);
  assert.deepEqual(put.body.secret, SET);

  await publish(hookd, [{ id: 'roundtrip-1', type: 'roundtrip.x', data: { n: 1 } }]);
  await deliveriesWhen(api, c.body.id, (d) => d.length === 1 && d[0]!.state === 'succeeded');
  const hit = receiver.requests.find((r) => r.url === '/roundtrip2')!;
  assert.equal(hit.headers['x-api-key'], S.header, 'the secret header value was kept');
  new StandardWebhook(S.signing).verify(hit.body, hit.headers as Record<string, string>);
  assert.equal(hit.headers.authorization, 'Bearer issued-token-1');
  const tokenRequest = receiver.requests.find((r) => r.url === '/token-roundtrip')!;
  const basic = Buffer.from(String(tokenRequest.headers.authorization).slice(6), 'base64').toString();
  assert.equal(basic, `${CLIENT_ID}:${S.clientSecret}`, 'the OAuth2 credentials were kept');

  // Replacing the secret with a new value takes the new one.
  const next = 'whsec_g6OIeuJ3Zy9Z+mrATZkyvuUV3FCw1Jj1';
  const r2 = await api.put(`/v1/webhooks/${c.body.id}`, { ...put.body, secret: next });
  assert.equal(r2.status, 200, r2.text);
  await publish(hookd, [{ id: 'roundtrip-2', type: 'roundtrip.x', data: { n: 2 } }]);
  await deliveriesWhen(api, c.body.id, (d) => d.length === 2 && d.every((x) => x.state === 'succeeded'));
  const hit2 = receiver.requests.filter((r) => r.url === '/roundtrip2').at(-1)!;
  new StandardWebhook(next).verify(hit2.body, hit2.headers as Record<string, string>);
  assert.throws(() =>
    new StandardWebhook(S.signing).verify(hit2.body, hit2.headers as Record<string, string>),
  );
});

test('every status answered in this file is in /openapi.json for its route (issue 16)', async () => {
  assert.deepEqual(await undocumentedStatuses(hookd.url), []);
});
