/**
 * Issue 16, acceptance 4: the seed APIs as clients written from each seed
 * document use them, in the seed's own field names and casing. 000's
 * `identifier` is required; 001's `State` may be its number (1/2/3), its
 * `Secret` reads as a string (`"********"`) and is kept when sent back, its
 * `SOTicket` scheme authenticates; 004's `credentials.client_id` is shown.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import type { RunningHookd } from '../../helpers/hookd.ts';
import { usePeers } from '../../helpers/peers.ts';
import type { Receiver } from '../../helpers/receiver.ts';
import { ADMIN, Client, tokens, undocumentedStatuses } from './helpers.ts';

const FIXTURES = join(import.meta.dirname, '../../fixtures/seeds');
const fixture = (name: string) =>
  JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as Record<string, unknown>;
const SECRET = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';

let receiver: Receiver;
let hookd: RunningHookd;
let api: Client;

const peers = usePeers();

before(async () => {
  receiver = await peers.receiver();
  hookd = await peers.hookd({ config: { api: { tokens: tokens() } } });
  api = new Client(hookd.url);
});

const paths = (r: { body: Record<string, unknown> }) =>
  (r.body.problems as { path: string }[] | undefined)?.map((p) => p.path);
const SAVE = '/api/v1/Agents/Webhook/SaveWebhook';

describe('seed 000', () => {
  test('identifier is required: a body without it is 400 naming identifier', async () => {
    const { identifier: _, ...body } = fixture('000-spa-webhook.json');
    const r = await api.post('/api/spa/webhooks', body);
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(paths(r), ['identifier']);
    const empty = await api.post('/api/spa/webhooks', { ...body, identifier: '' });
    assert.equal(empty.status, 400);
    assert.deepEqual(paths(empty), ['identifier']);
  });
});

describe('seed 001', () => {
  test('State as the seed numbers it: 1=Active, 2=Stopped, 3=TooManyErrors; others are 400 naming State', async () => {
    const saved = await api.post(SAVE, {
      WebhookId: 0,
      Name: 'numbered states',
      Events: ['contact.created'],
      TargetUrl: `${receiver.url}/so-state`,
      State: 2,
    });
    assert.equal(saved.status, 200, saved.text);
    assert.equal(saved.body.State, 'Stopped');
    const resumed = await api.post(SAVE, { ...saved.body, State: 1 });
    assert.equal(resumed.status, 200, resumed.text);
    assert.equal(resumed.body.State, 'Active');
    const tripped = await api.post(SAVE, { ...saved.body, State: 3 });
    assert.equal(tripped.body.State, 'TooManyErrors');
    const bad = await api.post(SAVE, { ...saved.body, State: 7 });
    assert.equal(bad.status, 400);
    assert.deepEqual(paths(bad), ['State']);
  });

  test('Secret is a string: "********" when set, "" when not; sent back unchanged it keeps the secret', async () => {
    const defaults = await api.post('/api/v1/Agents/Webhook/CreateDefaultWebhook');
    assert.equal(defaults.body.Secret, '');
    const saved = await api.post(SAVE, {
      ...defaults.body,
      Name: 'signed agent',
      Events: ['contact.created'],
      TargetUrl: `${receiver.url}/so-secret`,
      Secret: SECRET,
      Headers: { 'X-Plain': 'visible' },
    });
    assert.equal(saved.status, 200, saved.text);
    assert.equal(saved.body.Secret, '********');
    assert.ok(!saved.text.includes(SECRET));
    const again = await api.post(SAVE, { ...saved.body, Name: 'signed agent' });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.Secret, '********');
    // The secret in force is still the original: a test send verifies with it.
    const native = (await api.get<{ items: { id: string }[] }>('/v1/webhooks?identifier=signed%20agent')).body
      .items[0]!;
    const n = receiver.requests.length;
    assert.equal((await api.post(`/v1/webhooks/${native.id}/test`)).status, 200);
    const got = receiver.requests[n]!;
    new StandardWebhook(SECRET).verify(got.body, got.headers as Record<string, string>);
    const bad = await api.post(SAVE, { ...saved.body, Secret: 'rerum' });
    assert.equal(bad.status, 400);
    assert.deepEqual(paths(bad), ['Secret']);
  });

  test('Authorization: SOTicket <token> is accepted like Bearer', async () => {
    const anon = api.as(null);
    const r = await anon.call('POST', '/api/v1/Agents/Webhook/CreateDefaultWebhook', undefined, {
      authorization: `SOTicket ${ADMIN}`,
    });
    assert.equal(r.status, 200, r.text);
    const wrong = await anon.call('POST', '/api/v1/Agents/Webhook/CreateDefaultWebhook', undefined, {
      authorization: 'SOTicket not-a-token',
    });
    assert.equal(wrong.status, 401);
  });
});

describe('seed 004', () => {
  test('credentials.client_id is shown; client_secret stays write-only', async () => {
    const r = await api.post('/v1/webhooks', fixture('004-webhook.json'));
    assert.equal(r.status, 201, r.text);
    const credentials = (r.body.authentication as { credentials: Record<string, unknown> }).credentials;
    assert.deepEqual(credentials, { client_id: 'doo', client_secret: { set: true } });
    assert.ok(!r.text.includes('super-strong-pawwsord'));
  });
});

test('every status answered in this file is in /openapi.json for its route (issue 16)', async () => {
  assert.deepEqual(await undocumentedStatuses(hookd.url), []);
});
