import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compileWebhookTemplates,
  jsonataEngine,
  RenderError,
  TemplateCompileError,
} from '../../../src/templates/index.ts';
import { countingEngine, fixture, hookEvent, webhook } from './helpers.ts';

const order = fixture<Record<string, unknown>>('events/order-created.json');

describe('JSONata templates', () => {
  it('reshapes an order with a computed total', async () => {
    const t = compileWebhookTemplates(
      webhook({
        url: 'https://shop.example.com/hooks/orders/{/data/id}',
        body: {
          orderId: '{/data/id}',
          total: { jsonata: '$sum(data.lines.(quantity * unitPrice))' },
          skus: { jsonata: 'data.lines.sku' },
          meta: { items: { jsonata: '$count(data.lines)' }, currency: '{/data/currency}' },
          list: [{ jsonata: "data.customer.firstName & '!'" }, '{/data/customer/lastName}'],
        },
      }),
    );
    const out = t.render(hookEvent(order));
    assert.ok(out instanceof Promise, 'a JSONata template renders asynchronously');
    const req = await out;
    assert.equal(
      req.body,
      '{"orderId":"A-1001","total":30.25,"skus":["BOOK-1","PEN-7"],"meta":{"items":2,"currency":"EUR"},"list":["Ada!","Lovelace"]}',
    );
    assert.equal(req.url, 'https://shop.example.com/hooks/orders/A-1001');
  });

  it('evaluates a whole-body expression against the event', async () => {
    const t = compileWebhookTemplates(
      webhook({ url: 'https://h.example/', body: { jsonata: '{"id": data.id, "n": $count(data.lines)}' } }),
    );
    assert.equal((await t.render(hookEvent(order))).body, '{"id":"A-1001","n":2}');
  });

  it('writes null when an expression matches nothing', async () => {
    const t = compileWebhookTemplates(
      webhook({ url: 'https://h.example/', body: { v: { jsonata: 'data.nothing' } } }),
    );
    assert.equal((await t.render(hookEvent(order))).body, '{"v":null}');
  });

  it('renders JSONata transport fields', async () => {
    const t = compileWebhookTemplates(
      webhook({
        type: 'email',
        data: { subject: { jsonata: "'Order ' & data.id" }, to: '{/data/customer/firstName}' },
      }),
      { templateFields: ['subject', 'to'] },
    );
    assert.deepEqual((await t.render(hookEvent(order))).fields, { subject: 'Order A-1001', to: 'Ada' });
  });

  it('never reaches JSONata for a webhook without JSONata: not at compile, not at render', () => {
    const engine = countingEngine();
    const t = compileWebhookTemplates(
      webhook({
        url: 'https://h.example/{/data/id}',
        headers: { h: '{/data/currency}' },
        templates: { order: { id: '{/data/id}', all: '{/data/}', literal: { nested: ['x', 1] } } },
        body: { jsonata_like: 'jsonata' },
        properties: { p: 1 },
      }),
      { jsonata: engine },
    );
    assert.equal(t.usesJsonata, false);
    for (let i = 0; i < 100; i++) {
      const req = t.render(hookEvent(order));
      assert.ok(!(req instanceof Promise), 'rendered synchronously');
    }
    assert.deepEqual(
      { compiles: engine.compiles, evaluations: engine.evaluations },
      { compiles: 0, evaluations: 0 },
    );
  });

  it('compiles each expression once and evaluates it once per render', async () => {
    const engine = countingEngine();
    const t = compileWebhookTemplates(
      webhook({
        url: 'https://h.example/',
        templates: {
          order: { a: { jsonata: 'data.id' }, b: { jsonata: 'data.currency' } },
          refund: { id: '{/data/id}' },
        },
      }),
      { jsonata: engine },
    );
    assert.equal(engine.compiles, 2);
    for (let i = 0; i < 3; i++) await t.render(hookEvent(order));
    assert.equal(engine.evaluations, 6);
    assert.equal(engine.compiles, 2);
    // An event whose chosen template has no JSONata takes the synchronous path, even on this webhook.
    const refund = t.render(hookEvent({ type: 'refund.created', data: { id: 'R1' } }));
    assert.ok(!(refund instanceof Promise));
    assert.equal(refund.body, '{"id":"R1"}');
    assert.equal(engine.evaluations, 6);
  });

  it('refuses a syntax error at compile time with the path of the expression', () => {
    assert.throws(
      () =>
        compileWebhookTemplates(
          webhook({ url: 'https://h.example/', templates: { order: { t: { jsonata: '$sum(a' } } } }),
        ),
      (err: unknown) =>
        err instanceof TemplateCompileError &&
        /^JSONata syntax error: S0203 Expected "\)" before end of expression/.test(err.message) &&
        err.path.join('.') === 'templates.order.t.jsonata',
    );
  });

  it('refuses a {jsonata} object with other keys or a non-string expression', () => {
    assert.throws(
      () => compileWebhookTemplates(webhook({ url: 'https://h.example/', body: { jsonata: 'a', other: 1 } })),
      (err: unknown) =>
        err instanceof TemplateCompileError && /no other keys \(found "other"\)/.test(err.message),
    );
    assert.throws(
      () => compileWebhookTemplates(webhook({ url: 'https://h.example/', body: { x: { jsonata: 5 } } })),
      (err: unknown) => err instanceof TemplateCompileError && err.path.join('.') === 'body.x.jsonata',
    );
  });

  it('turns a runtime error into a RenderError carrying the expression and its message', async () => {
    const t = compileWebhookTemplates(
      webhook({ url: 'https://h.example/', templates: { order: { total: { jsonata: 'data.id + 1' } } } }),
    );
    await assert.rejects(
      async () => t.render(hookEvent(order)),
      (err: unknown) =>
        err instanceof RenderError &&
        err.message ===
          'templates.order.total: JSONata expression "data.id + 1" failed: T2001 The left side of the "+" operator must evaluate to a number (at character 9)' &&
        err.path.join('.') === 'templates.order.total.jsonata',
    );
  });

  it('stops a runaway expression with a RenderError', async () => {
    const t = compileWebhookTemplates(
      webhook({ url: 'https://h.example/', body: { jsonata: '($f := function($n) { $f($n + 1) }; $f(0))' } }),
      { jsonata: jsonataEngine({ timeoutMs: 20 }) },
    );
    await assert.rejects(
      async () => t.render(hookEvent({})),
      (err: unknown) => err instanceof RenderError && /D1012/.test(err.message),
    );
  });
});
