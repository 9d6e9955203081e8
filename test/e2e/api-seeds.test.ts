/**
 * Issue 7, acceptance 1: each seed's example body (test/fixtures/seeds),
 * sent unchanged to its route except for host names pointed at local test
 * servers, gets the seed's status code and shape, and the webhook it
 * created then receives a matching event published to NATS JetStream.
 *
 * Seed 000 is an `sftp-document` webhook for `sftp-user`/`sftp-password`
 * with no host key: its first delivery reaches the transport and fails as
 * it must (no host key configured), which shows the NATS event selected it
 * (identifier and group condition). Given the real sshd's host key and a
 * real password account (`PUT /v1/webhooks/{id}`, same structure), the next
 * event lands on the SFTP server as a file.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { type JetStreamClient, jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import type { RunningHookd } from '../helpers/hookd.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import { usePeers } from '../helpers/peers.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { PASSWORD_USER, passwordUser, type Sshd } from '../helpers/sshd.ts';
import {
  Client,
  type DeliveryView,
  deliveriesWhen,
  tokens,
  undocumentedStatuses,
  until,
} from '../integration/api/helpers.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/seeds');
/** A fixture's text with host names pointed at local servers (the receivers speak plain HTTP). */
function fixture(name: string, hosts: Record<string, string> = {}): Record<string, unknown> {
  let text = readFileSync(join(FIXTURES, name), 'utf8');
  for (const [from, to] of Object.entries(hosts)) text = text.split(from).join(to);
  return JSON.parse(text) as Record<string, unknown>;
}

let nats: NatsServer;
let receiver: Receiver;
let sshd: Sshd;
let hookd: RunningHookd;
let api: Client;
let nc: NatsConnection;
let js: JetStreamClient;
/** The password of the real account sshd checks (seed 000 logs in with a password). */
let sftpPassword: string;

const peers = usePeers();

before(async () => {
  sftpPassword = passwordUser().password;
  nats = await peers.nats();
  receiver = await peers.receiver();
  sshd = await peers.sshd({ rootOwner: PASSWORD_USER });
  receiver.respond((req) =>
    String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')
      ? {
          status: 200,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            access_token: 'seed-004-access-token',
            token_type: 'Bearer',
            expires_in: 3600,
          }),
        }
      : { status: 200, body: 'ok' },
  );
  hookd = await peers.hookd({
    config: {
      nats: { url: nats.url },
      api: { tokens: tokens() },
      // Seed 003's topic keys, as configured pointers (DESIGN.md section 2).
      events: {
        attributes: {
          language: '/resource/sys/language',
          contentTypeId: '/resource/sys/contentTypeId',
          owner: '/resource/sys/owner',
        },
      },
    },
  });
  api = new Client(hookd.url);
  await until('hookd connected to NATS', async () => (await fetch(`${hookd.url}/readyz`)).ok);
  nc = await peers.start(
    'nats client',
    () => connect({ servers: nats.url }),
    (c) => c.close(),
  );
  js = jetstream(nc);
});

/** Publishes to JetStream once the stream hookd creates exists. */
async function publish(event: Record<string, unknown>): Promise<void> {
  await until('the EVENTS stream', async () => {
    try {
      await js.publish('events.seed', JSON.stringify(event));
      return true;
    } catch {
      return false;
    }
  });
}

const arrivals = (path: string) => receiver.requests.filter((r) => r.url === path);

test('seed 000: POST /api/spa/webhooks → 201; a NATS event reaches the sftp-document webhook; an SFTP file lands', async () => {
  const body = fixture('000-spa-webhook.json', { 'sftp.example.com': sshd.host });
  (body.data as Record<string, unknown>).port = sshd.port; // port 22 cannot be bound by a test
  const r = await api.post('/api/spa/webhooks', body);
  assert.equal(r.status, 201, r.text);
  assert.ok(Number.isInteger(r.body.id));
  assert.deepEqual((r.body.data as Record<string, unknown>).password, { set: true });
  const id = (r.headers.get('location') ?? '').split('/').pop()!;

  await publish({
    specversion: '1.0',
    id: 'seed000-1',
    type: 'document.created',
    webhook: 'my-webhook',
    data: { contract: { balance: 12 } },
  });
  const [first] = await deliveriesWhen(
    api,
    id,
    (d) => d.length === 1 && d[0]!.state === 'failed',
    'the seed 000 delivery',
  );
  assert.equal(first!.eventId, 'seed000-1');
  assert.match(first!.attempts[0]!.error ?? '', /no hostKey configured/);
  // The group condition decides: a zero balance selects nothing.
  const zero = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: 'Bearer tok-admin', 'content-type': 'application/json' },
    body: JSON.stringify({
      id: 'seed000-0',
      type: 'document.created',
      webhook: 'my-webhook',
      data: { contract: { balance: 0 } },
    }),
  });
  assert.deepEqual(((await zero.json()) as { deliveries: number }).deliveries, 0);

  // The same webhook with the real server's host key and a real password account.
  const view = (await api.get<Record<string, unknown>>(`/v1/webhooks/${id}`)).body;
  const put = await api.put(`/v1/webhooks/${id}`, {
    ...view,
    data: {
      ...(body.data as Record<string, unknown>),
      user: PASSWORD_USER,
      password: sftpPassword,
      hostKey: sshd.hostKey,
    },
  });
  assert.equal(put.status, 200, put.text);
  await publish({
    specversion: '1.0',
    id: 'seed000-2',
    type: 'document.created',
    webhook: 'my-webhook',
    data: { contract: { balance: 5 } },
  });
  await deliveriesWhen(
    api,
    id,
    (d) => d.find((x) => x.eventId === 'seed000-2')?.state === 'succeeded',
    'the SFTP upload',
  );
  const file = join(sshd.root, 'sftp-directory/sub-directory/seed000-2.json');
  const uploaded = JSON.parse(readFileSync(file, 'utf8')) as { id: string; data: unknown };
  assert.equal(uploaded.id, 'seed000-2');
  assert.deepEqual(uploaded.data, { contract: { balance: 5 } });
});

test('seed 001: CreateDefaultWebhook → 200 defaults; saved, the webhook receives a signed contact.created from NATS', async () => {
  const d = await api.post('/api/v1/Agents/Webhook/CreateDefaultWebhook');
  assert.equal(d.status, 200, d.text);
  assert.deepEqual(Object.keys(d.body), Object.keys(fixture('001-webhook.sample-response.json')));
  const secret = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
  const saved = await api.post('/api/v1/Agents/Webhook/SaveWebhook', {
    ...d.body,
    Name: 'Herzog LLC',
    Events: ['contact.created', 'sale.changed'],
    TargetUrl: `${receiver.url}/superoffice`,
    Secret: secret,
    Headers: { Headers1: 'aut' },
    Properties: { agent: 'superoffice' },
  });
  assert.equal(saved.status, 200, saved.text);
  await publish({
    specversion: '1.0',
    id: 'seed001-1',
    type: 'contact.created',
    source: '/crm',
    data: { id: 42 },
  });
  await until('the seed 001 delivery', () => arrivals('/superoffice').length === 1);
  const got = arrivals('/superoffice')[0]!;
  new StandardWebhook(secret).verify(got.body, got.headers as Record<string, string>);
  assert.equal(got.headers.headers1, 'aut');
  const sent = JSON.parse(got.body) as Record<string, unknown>;
  assert.equal(sent.id, 'seed001-1');
  assert.equal(sent.agent, 'superoffice', 'Properties merged into the body');
});

test('seed 002: POST /api/web/v1/webhooks → 200 with a UUID; the webhook receives order.created from NATS', async () => {
  const body = fixture('002-webhook-parms.json', { 'https://erp.example.com': receiver.url });
  const r = await api.post<{ id: string }>('/api/web/v1/webhooks', body);
  assert.equal(r.status, 200, r.text);
  assert.match(r.body.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  await publish({ specversion: '1.0', id: 'seed002-1', type: 'order.created', data: { orderId: 'o-17' } });
  await until('the seed 002 delivery', () => arrivals('/hooks/orders/o-17').length === 1);
  const got = arrivals('/hooks/orders/o-17')[0]!;
  new StandardWebhook(String(body.secret)).verify(got.body, got.headers as Record<string, string>);
});

test('seed 003: POST .../subscriptions/ → 201 echo; a matching entry event from NATS gets the entry template and headers', async () => {
  const body = fixture('003-subscription.json', { 'https://external.mywebsite.com': receiver.url });
  const r = await api.post('/api/management/projects/movies/events/webhooks/subscriptions/', body);
  assert.equal(r.status, 201, r.text);
  assert.equal((r.body.version as { versionNo: string }).versionNo, '1.0');
  const event = JSON.parse(
    readFileSync(join(import.meta.dirname, '../fixtures/templates/events/entry-blog-created.json'), 'utf8'),
  ) as Record<string, unknown>;
  const sysId = (event.resource as Record<string, unknown>)['sys.id'];
  // Not matching: a language no topic names. Matching: the blog entry in fr-fr by t.durden.
  const other = structuredClone(event) as { id: string; resource: { sys: { language: string } } };
  other.id = 'seed003-other';
  other.resource.sys.language = 'en-gb';
  await publish(other);
  await publish(event);
  const path = `/handlewebhooks/${sysId}`;
  await until('the seed 003 delivery', () => arrivals(path).length >= 1);
  const got = arrivals(path)[0]!;
  assert.equal(got.headers.target, 'internal');
  assert.equal(got.headers.department, 'Editorial & Web');
  assert.equal(got.headers.secretheaderset, 'cs7vdsdvj~8', 'the secret header is sent (only never returned)');
  assert.equal(got.headers.secretheaderget, undefined, 'a header without a value is not sent');
  assert.deepEqual(JSON.parse(got.body), {
    event: 'created',
    user: 'Tyler Durden',
    id: sysId,
    title: 'Le premier article',
    description: 'Un article sur le cinéma',
    department: 'Editorial & Web',
  });
  const ds = await api.get<{ items: DeliveryView[] }>(`/v1/webhooks/${r.body.id}/deliveries`);
  assert.deepEqual(
    ds.body.items.map((x) => x.eventId),
    [event.id],
    'the other language was not selected',
  );
});

test('seed 004: the structure through POST /v1/webhooks → 201; order_created from NATS goes out with an OAuth2 token', async () => {
  const body = fixture('004-webhook.json', { 'https://requestb.in': receiver.url });
  const r = await api.post('/v1/webhooks', body);
  assert.equal(r.status, 201, r.text);
  await publish({ specversion: '1.0', id: 'seed004-1', type: 'order_created', data: { orderId: 'A1' } });
  await until('the seed 004 delivery', () =>
    arrivals('/123').some((q) => q.headers.authorization === 'Bearer seed-004-access-token'),
  );
  const token = arrivals('/123').find((q) =>
    String(q.headers['content-type']).includes('x-www-form-urlencoded'),
  )!;
  assert.equal(
    Buffer.from(String(token.headers.authorization).slice(6), 'base64').toString(),
    'doo:super-strong-pawwsord',
  );
  const hook = arrivals('/123').find((q) => q.headers.authorization === 'Bearer seed-004-access-token')!;
  assert.equal(hook.method, 'POST');
  assert.equal((JSON.parse(hook.body) as { id: string }).id, 'seed004-1');
});

test('every status answered in this file is in /openapi.json for its route (issue 16)', async () => {
  assert.deepEqual(await undocumentedStatuses(hookd.url), []);
});
