import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compileWebhookTemplates,
  RenderError,
  TemplateCompileError,
  type WebhookTemplates,
} from '../../../src/templates/index.ts';
import type { RenderedRequest } from '../../../src/transports/contract.ts';
import { hookEvent, readable, webhook } from './helpers.ts';

/** Renders synchronously; fails the test when the fast path returned a Promise. */
function renderSync(
  t: WebhookTemplates,
  body: Record<string, unknown>,
  ext?: Record<string, string>,
): RenderedRequest {
  const out = t.render(hookEvent(body, ext));
  assert.ok(!(out instanceof Promise), 'a template without JSONata renders synchronously');
  return out;
}

const isRenderError = (re: RegExp, path?: string) => (err: unknown) =>
  err instanceof RenderError && re.test(err.message) && (path === undefined || err.path.join('.') === path);
const isCompileError = (re: RegExp, path: string) => (err: unknown) =>
  err instanceof TemplateCompileError && re.test(err.message) && err.path.join('.') === path;

describe('url templates', () => {
  it('percent-encodes values inside a longer url', () => {
    const t = compileWebhookTemplates(webhook({ url: 'https://h.example/a/{/data/id}?q={/data/q}' }));
    const req = renderSync(t, { type: 'x.y', data: { id: 'a/b c', q: 'x&y=1' } });
    assert.equal(req.url, 'https://h.example/a/a%2Fb%20c?q=x%26y%3D1');
    assert.equal(req.method, 'POST');
  });

  it('takes a url that is exactly one placeholder as it is', () => {
    const t = compileWebhookTemplates(webhook({ url: '{/callback}' }));
    assert.equal(renderSync(t, { callback: 'https://cb.example/x?y=1' }).url, 'https://cb.example/x?y=1');
  });

  it('is a RenderError naming the placeholder when the url needs a missing value', () => {
    const t = compileWebhookTemplates(webhook({ url: 'https://h.example/{/resource/sys.id}' }));
    assert.throws(
      () => t.render(hookEvent({ type: 'entry.created', resource: { sys: { id: 'nested' } } })),
      isRenderError(/url needs \{\/resource\/sys\.id\} but the event has no value there/, 'url'),
    );
    assert.throws(() => t.render(hookEvent({ resource: { 'sys.id': null } })), RenderError);
  });

  it('is a RenderError when the rendered url does not parse', () => {
    const t = compileWebhookTemplates(webhook({ url: '{/callback}' }));
    assert.throws(
      () => t.render(hookEvent({ callback: 'not a url' })),
      isRenderError(/not a valid absolute URL/),
    );
  });

  it('refuses an invalid url at compile time, alias included', () => {
    assert.throws(
      () => compileWebhookTemplates(webhook({ url: 'not a url/{/id}' })),
      isCompileError(/not a valid absolute URL template/, 'url'),
    );
    assert.throws(
      () => compileWebhookTemplates(webhook({ targetUrl: 'nope' })),
      isCompileError(/not a valid absolute URL/, 'url'),
    );
  });
});

describe('headers', () => {
  const hook = webhook({
    url: 'https://h.example/',
    headers: {
      target: { value: 'internal' },
      department: { value: '{/resource/department}' },
      count: '{/n}',
      combo: 'v={/n};w={/obj}',
      secretHeaderSet: { secret: true, value: 'cs7vdsdvj~8' },
      secretHeaderGet: { secret: true },
      empty: {},
    },
  });

  it('renders templated values and omits headers whose value is missing', () => {
    const t = compileWebhookTemplates(hook);
    assert.deepEqual(renderSync(t, { resource: { department: 'News' }, n: 7, obj: { a: 1 } }).headers, {
      target: 'internal',
      department: 'News',
      count: '7',
      combo: 'v=7;w={"a":1}',
    });
    assert.deepEqual(renderSync(t, { resource: {} }).headers, { target: 'internal' });
  });

  it('keeps secret header values out of the stored request', () => {
    const req = renderSync(compileWebhookTemplates(hook), { n: 1 });
    assert.ok(!('secretHeaderSet' in req.headers));
    assert.ok(!('secretHeaderGet' in req.headers));
    assert.ok(
      !JSON.stringify(req).includes('cs7vdsdvj'),
      'the secret appears nowhere in the rendered request',
    );
  });

  it('sends secret values verbatim at send time, so they are not parsed as templates', () => {
    // A secret with a stray brace would be an unbalanced template; it compiles because secrets are opaque.
    assert.doesNotThrow(() =>
      compileWebhookTemplates(
        webhook({ url: 'https://h.example/', headers: { s: { secret: true, value: 'a{b' } } }),
      ),
    );
  });

  it('refuses header values that would split the request, at compile time and at render time', () => {
    assert.throws(
      () =>
        compileWebhookTemplates(webhook({ url: 'https://h.example/', headers: { x: 'a\r\nInjected: 1' } })),
      isCompileError(/line break/, 'headers.x.value'),
    );
    assert.throws(
      () => compileWebhookTemplates(webhook({ url: 'https://h.example/', headers: { 'bad name': 'v' } })),
      isCompileError(/not a valid HTTP header name/, 'headers.bad name'),
    );
    const t = compileWebhookTemplates(webhook({ url: 'https://h.example/', headers: { x: 'id {/id}' } }));
    assert.throws(
      () => t.render(hookEvent({ id: '1\r\nInjected: 1' })),
      isRenderError(/line break/, 'headers.x'),
    );
  });
});

describe('body choice', () => {
  const hook = webhook({
    url: 'https://h.example/',
    templates: {
      'entry.news': { kind: 'news', id: '{/resource/sys/id}' },
      entry: { kind: 'entry', id: '{/resource/sys/id}' },
      contentType: '{/resource/}',
    },
    body: { kind: 'default', type: '{/type}' },
  });
  const t = compileWebhookTemplates(hook);
  const body = (b: Record<string, unknown>, ext?: Record<string, string>) =>
    JSON.parse(renderSync(t, b, ext).body);

  it('prefers resourceType.contentTypeId, then resourceType, then webhook.body', () => {
    const news = { type: 'entry.created', resource: { sys: { id: 'n1', contentTypeId: 'news' } } };
    assert.deepEqual(body(news), { kind: 'news', id: 'n1' });
    const blog = { type: 'entry.created', resource: { sys: { id: 'b1', contentTypeId: 'blog' } } };
    assert.deepEqual(body(blog), { kind: 'entry', id: 'b1' });
    assert.deepEqual(body({ type: 'asset.created' }), { kind: 'default', type: 'asset.created' });
  });

  it('takes resourceType as the type before its last dot', () => {
    const ev = { type: 'com.example.entry.created', resource: { sys: { id: 'x' } } };
    assert.deepEqual(body(ev), { kind: 'default', type: 'com.example.entry.created' });
    const tpl = compileWebhookTemplates(
      webhook({ url: 'https://h.example/', templates: { 'com.example.entry': { ok: true } } }),
    );
    assert.deepEqual(JSON.parse(renderSync(tpl, ev).body), { ok: true });
  });

  it('reads contentTypeId from the contenttypeid extension, then /contentTypeId, /resource/sys, /data', () => {
    assert.equal(body({ type: 'entry.x', contentTypeId: 'news' }).kind, 'news');
    assert.equal(body({ type: 'entry.x', data: { contentTypeId: 'news' } }).kind, 'news');
    assert.equal(body({ type: 'entry.x', data: { sys: { contentTypeId: 'news' } } }).kind, 'news');
    assert.equal(body({ type: 'entry.x', contentTypeId: 'blog' }, { contenttypeid: 'news' }).kind, 'news');
  });

  it('reads contentTypeId from a configured pointer when one is given', () => {
    const tpl = compileWebhookTemplates(hook, { contentTypeId: '/meta/ct' });
    const b = JSON.parse(
      renderSync(tpl, { type: 'entry.x', meta: { ct: 'news' }, contentTypeId: 'blog' }).body,
    );
    assert.equal(b.kind, 'news');
  });

  it('renders a one-placeholder template as the whole value, keeping its JSON type', () => {
    const resource = { id: 'ct', fields: [{ id: 'f', n: 1 }], flag: false };
    assert.deepEqual(body({ type: 'contentType.created', resource }), resource);
  });

  it('sends the event itself when there is no template at all', () => {
    const ev = { type: 'a.b', id: 'e1', data: { x: [1, { y: null }] } };
    assert.equal(
      renderSync(compileWebhookTemplates(webhook({ url: 'https://h.example/' })), ev).body,
      JSON.stringify(ev),
    );
  });

  it('writes null for missing values in a body and keeps JSON types of one-placeholder strings', () => {
    const tpl = compileWebhookTemplates(
      webhook({
        url: 'https://h.example/',
        body: {
          n: '{/n}',
          b: '{/b}',
          o: '{/o}',
          text: 'n={/n}',
          missing: '{/nope}',
          partly: '{/n} {/nope}',
          list: ['{/n}', '{/nope}', 'lit', 5, null, true],
          nested: { deeper: { v: '{/o/k}' } },
        },
      }),
    );
    const b = JSON.parse(renderSync(tpl, { n: 1.5, b: false, o: { k: 'v' } }).body);
    assert.deepEqual(b, {
      n: 1.5,
      b: false,
      o: { k: 'v' },
      text: 'n=1.5',
      missing: null,
      partly: null,
      list: [1.5, null, 'lit', 5, null, true],
      nested: { deeper: { v: 'v' } },
    });
  });

  it('writes strings exactly as JSON.stringify would, escapes included', () => {
    const tpl = compileWebhookTemplates(
      webhook({
        url: 'https://h.example/',
        body: { list: ['{/a}', '{/b}', '{/c}', '{/d}', '{/e}', '{/f}', '{/g}'], t: 'x{/a}' },
      }),
    );
    const values = {
      a: 'quote " and backslash \\',
      b: 'line\nbreak\ttab\u0000nul\u001f',
      c: 'lone \ud800 surrogate',
      d: 'pair \ud83d\ude00 emoji',
      e: 'separators \u2028\u2029',
      f: 'plain ascii',
      g: 'accents éà',
    };
    const out = renderSync(tpl, values);
    assert.equal(out.body, JSON.stringify({ list: Object.values(values), t: `x${values.a}` }));
  });

  it('keeps a __proto__ key of a template as plain data', () => {
    const tpl = compileWebhookTemplates(
      webhook({ url: 'https://h.example/', body: JSON.parse('{"__proto__": {"x": "{/n}"}}') }),
    );
    const out = renderSync(tpl, { n: 1 });
    assert.equal(out.body, '{"__proto__":{"x":1}}');
  });

  it('renders the same bytes for the same input, in template key order', () => {
    const ev = { type: 'entry.created', resource: { sys: { id: 'b1', contentTypeId: 'blog' } } };
    const a = renderSync(t, ev);
    const b = renderSync(compileWebhookTemplates(hook), structuredClone(ev));
    assert.equal(a.body, '{"kind":"entry","id":"b1"}');
    assert.equal(JSON.stringify(a), JSON.stringify(b));
  });
});

describe('properties', () => {
  it('merges properties into a JSON object body, over the event', () => {
    const tpl = compileWebhookTemplates(
      webhook({ url: 'https://h.example/', properties: { tenant: 'acme', id: 'p' } }),
    );
    assert.equal(renderSync(tpl, { id: 'e1', type: 't' }).body, '{"id":"p","type":"t","tenant":"acme"}');
  });

  it('merges into a templated object body, and leaves non-object bodies alone', () => {
    const tpl = compileWebhookTemplates(
      webhook({
        url: 'https://h.example/',
        properties: { p: 1 },
        templates: { a: { x: '{/x}' }, b: '{/list}' },
      }),
    );
    assert.deepEqual(JSON.parse(renderSync(tpl, { type: 'a.created', x: 2 }).body), { x: 2, p: 1 });
    assert.deepEqual(JSON.parse(renderSync(tpl, { type: 'b.created', list: [1] }).body), [1]);
  });
});

describe('hooks (seed 004)', () => {
  const hook = webhook({
    hooks: [
      { type: 'order_created', method: 'POST', endpoint: 'https://h.example/created' },
      { type: 'order_cancelled', method: 'delete', endpoint: 'https://h.example/orders/{/data/id}' },
      { type: 'order_cancelled', method: 'PUT', endpoint: 'https://h.example/ignored' },
    ],
  });

  it('picks method and endpoint by the exact event type; the first entry for a type wins', () => {
    const req = renderSync(compileWebhookTemplates(hook), { type: 'order_cancelled', data: { id: 'A 1' } });
    assert.equal(req.method, 'DELETE');
    assert.equal(req.url, 'https://h.example/orders/A%201');
  });

  it('also matches the part of the type after its last dot', () => {
    const req = renderSync(compileWebhookTemplates(hook), { type: 'com.shop.order_created' });
    assert.deepEqual([req.method, req.url], ['POST', 'https://h.example/created']);
  });

  it('falls back to url and method when no hook matches, else is a RenderError', () => {
    const withUrl = webhook({ ...hookInput(), url: 'https://h.example/other', method: 'PATCH' });
    const req = renderSync(compileWebhookTemplates(withUrl), { type: 'event_created' });
    assert.deepEqual([req.method, req.url], ['PATCH', 'https://h.example/other']);
    assert.throws(
      () => compileWebhookTemplates(hook).render(hookEvent({ type: 'event_created' })),
      isRenderError(/no hooks\[\] entry for event type "event_created"/),
    );
  });

  it('refuses a bad endpoint template with its hooks path', () => {
    assert.throws(
      () => compileWebhookTemplates(webhook({ hooks: [{ type: 'a', endpoint: 'https://h.example/{/x' }] })),
      isCompileError(/never closed/, 'hooks.0.endpoint'),
    );
  });

  function hookInput() {
    return { hooks: [{ type: 'order_created', method: 'POST', endpoint: 'https://h.example/created' }] };
  }
});

describe('transport fields', () => {
  const hook = webhook({
    type: 'sftp',
    data: {
      host: 'sftp.example.com',
      directory: 'in/{/type}',
      fileName: '{/data/name}.pdf',
      to: ['{/data/email}', 'ops@example.com'],
      port: '{/data/port}',
      subject: '{/data/missing}',
    },
  });

  it('renders the named data keys into fields, keeping JSON types and omitting missing ones', () => {
    const t = compileWebhookTemplates(hook, {
      templateFields: ['directory', 'fileName', 'to', 'port', 'subject', 'cc'],
    });
    const req = renderSync(t, {
      type: 'invoice.created',
      data: { name: 'inv 1', email: 'a@example.com', port: 22 },
    });
    assert.deepEqual(req.fields, {
      directory: 'in/invoice.created',
      fileName: 'inv 1.pdf',
      to: ['a@example.com', 'ops@example.com'],
      port: 22,
    });
    assert.equal(req.url, undefined);
    assert.ok(!('method' in req), 'no method without a url');
  });

  it('leaves data keys that are not template fields alone', () => {
    const t = compileWebhookTemplates(hook, { templateFields: ['directory'] });
    assert.deepEqual(renderSync(t, { type: 'x' }).fields, { directory: 'in/x' });
  });

  it('refuses a bad field template with its data path', () => {
    const bad = webhook({ type: 'sftp', data: { directory: 'in/{/type' } });
    assert.throws(
      () => compileWebhookTemplates(bad, { templateFields: ['directory'] }),
      isCompileError(/never closed/, 'data.directory'),
    );
  });
});

describe('content type', () => {
  it('sends a rendered string as it is when data.contentType is not JSON', () => {
    const t = compileWebhookTemplates(
      webhook({
        url: 'https://h.example/',
        data: { contentType: 'text/plain' },
        body: 'Order {/id} shipped',
      }),
    );
    const req = renderSync(t, { id: 7 });
    assert.deepEqual([req.contentType, req.body], ['text/plain', 'Order 7 shipped']);
  });

  it('serializes every body as JSON by default', () => {
    const t = compileWebhookTemplates(webhook({ url: 'https://h.example/', body: 'Order {/id} shipped' }));
    const req = renderSync(t, { id: 7 });
    assert.deepEqual(readable(req).body, 'Order 7 shipped');
    assert.equal(req.contentType, 'application/json');
  });
});
