/**
 * Issue 7, acceptance 6: `GET /openapi.json` is valid OpenAPI 3.1 (checked
 * by @seriousme/openapi-schema-validator) and describes every native route,
 * generated from the same zod schemas that validate the requests.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { RunningHookd } from '../../helpers/hookd.ts';
import { usePeers } from '../../helpers/peers.ts';
import { Client, tokens, undocumentedStatuses } from './helpers.ts';

let hookd: RunningHookd;
let doc: {
  openapi: string;
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: { schemas: Record<string, Record<string, unknown>> };
};

/** DESIGN.md section 5 and issue 7: the native routes. */
const NATIVE = [
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'POST /v1/events',
  'GET /v1/webhooks',
  'POST /v1/webhooks',
  'GET /v1/webhooks/default',
  'GET /v1/webhooks/{id}',
  'PUT /v1/webhooks/{id}',
  'DELETE /v1/webhooks/{id}',
  'POST /v1/webhooks/{id}/test',
  'PUT /v1/webhooks/{id}/state',
  'GET /v1/webhooks/{id}/deliveries',
  'POST /v1/webhooks/{id}/retry-failed',
  'POST /v1/deliveries/{id}/retry',
  'GET /openapi.json',
];

const peers = usePeers();

before(async () => {
  hookd = await peers.hookd({ config: { api: { tokens: tokens() } } });
  const r = await new Client(hookd.url).as(null).get<typeof doc>('/openapi.json');
  assert.equal(r.status, 200);
  doc = r.body;
});

test('the document is valid OpenAPI 3.1', async () => {
  assert.equal(doc.openapi, '3.1.0');
  const validator = new Validator();
  const res = await validator.validate(
    structuredClone(doc) as unknown as Parameters<Validator['validate']>[0],
  );
  assert.deepEqual(res.errors ?? [], []);
  assert.equal(res.valid, true);
  assert.equal(validator.version, '3.1');
});

test('every native route is described, and every described route is served', async () => {
  const described = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
  );
  for (const route of NATIVE) assert.ok(described.includes(route), `${route} is not in the document`);
  for (const route of described) {
    const [method, path] = route.split(' ') as [string, string];
    const url = path.replace(/\{(\w+)\}/g, ':$1');
    assert.ok(
      hookd.app.server.hasRoute({ method: method as 'GET', url }),
      `${route} is described but not served`,
    );
  }
});

test('request and response schemas come from the zod schemas, with refs that resolve', () => {
  const input = doc.components.schemas.WebhookInput!;
  assert.equal(input.additionalProperties, false, 'strict, as rule files are');
  const props = input.properties as Record<string, unknown>;
  for (const k of [
    'identifier',
    'targetUrl',
    'enabled',
    'topics',
    'hooks',
    'authentication',
    'groupCondition',
  ]) {
    assert.ok(k in props, `WebhookInput has ${k}`);
  }
  const view = doc.components.schemas.Webhook!.properties as Record<string, Record<string, unknown>>;
  assert.ok('source' in view && 'version' in view);
  const create = doc.paths['/v1/webhooks']!.post!;
  assert.deepEqual(
    (create.requestBody as { content: Record<string, { schema: unknown }> }).content['application/json']!
      .schema,
    { $ref: '#/components/schemas/WebhookInput' },
  );
  assert.equal(create['x-hookd-permission'], 'WEBHOOKS:ADD');
  assert.ok((create.responses as Record<string, unknown>)['201']);
  assert.ok((create.responses as Record<string, unknown>)['400']);
  // Every $ref points at a component that exists.
  const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
  assert.ok(refs.length > 10);
  for (const ref of refs) {
    const name = ref.slice(8, -1).replace('#/components/schemas/', '');
    assert.ok(doc.components.schemas[name], `${ref} resolves`);
  }
  const list = doc.paths['/v1/webhooks']!.get!.parameters as { name: string; in: string }[];
  assert.deepEqual(
    list.map((p) => p.name),
    ['identifier', 'type', 'state', 'source', 'limit', 'after'],
  );
});

test('servers, license, the event media types and the ingest 400 shape (problems[].reason) are documented', () => {
  const d = doc as unknown as {
    servers: { url: string }[];
    info: { license: { name: string; identifier: string } };
  };
  assert.ok(d.servers.length > 0 && typeof d.servers[0]!.url === 'string');
  assert.equal(d.info.license.identifier, 'Apache-2.0');
  const events = doc.paths['/v1/events']!.post!;
  const content = (events.requestBody as { content: Record<string, unknown> }).content;
  assert.deepEqual(Object.keys(content).sort(), [
    'application/cloudevents+json',
    'application/cloudevents-batch+json',
    'application/json',
  ]);
  const bad = (events.responses as Record<string, { content: Record<string, { schema: { $ref: string } }> }>)[
    '400'
  ]!;
  const ref = bad.content['application/json']!.schema.$ref.replace('#/components/schemas/', '');
  const problems = (doc.components.schemas[ref]!.properties as Record<string, Record<string, unknown>>)
    .problems as { items: { properties: Record<string, unknown>; required: string[] } };
  assert.ok(problems.items.required.includes('reason'));
  // Query validation answers 400 on the list routes.
  assert.ok((doc.paths['/v1/webhooks']!.get!.responses as Record<string, unknown>)['400']);
  assert.ok((doc.paths['/v1/webhooks/{id}/deliveries']!.get!.responses as Record<string, unknown>)['400']);
});

test('every status answered in this file is in /openapi.json for its route (issue 16)', async () => {
  assert.deepEqual(await undocumentedStatuses(hookd.url), []);
});
