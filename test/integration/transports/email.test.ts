/**
 * The email transport against a real smtp-server sink: templated envelope
 * and headers, text and HTML bodies, and attachments taken from the event
 * through a pointer (base64), end to end through the template renderer.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import pino from 'pino';
import type { Webhook } from '../../../src/rules/webhook-schema.ts';
import type { HookEvent } from '../../../src/source/event.ts';
import { compileWebhookTemplates } from '../../../src/templates/index.ts';
import type { TransportInstance } from '../../../src/transports/contract.ts';
import { createEmail, EmailDataSchema, emailTransport } from '../../../src/transports/email/index.ts';
import { loopbackOnlyNetwork } from '../../conformance/peers/network.ts';
import { makeDelivery } from '../../conformance/peers/peer.ts';
import { usePeers } from '../../helpers/peers.ts';
import type { SmtpSink } from '../../helpers/smtp.ts';

const PDF = Buffer.from('%PDF-1.7\n binary \u0000\u00ff payload', 'latin1');

const event: HookEvent = {
  id: 'evt-mail-1',
  type: 'invoice.created',
  subject: 'events.invoice',
  body: {
    id: 'evt-mail-1',
    type: 'invoice.created',
    data: {
      number: 'INV-7',
      customer: { email: 'alice@example.com', name: 'Alice' },
      accounting: ['books@example.com', 'audit@example.com'],
      document: PDF.toString('base64'),
    },
  },
  data: {},
  extensions: {},
  receivedAt: Date.now(),
};

describe('email transport', () => {
  let sink: SmtpSink;
  let t: TransportInstance;
  const peers = usePeers();
  before(async () => {
    sink = await peers.smtp();
    t = await peers.start(
      'email transport',
      () =>
        createEmail({
          logger: pino({ level: 'silent' }),
          timeoutMs: 5_000,
          security: { allowPrivateNetworks: true, allowList: [] },
          network: loopbackOnlyNetwork(),
        }),
      (x) => x.close(),
    );
  });

  async function rendered(data: Record<string, unknown>) {
    const parsed = EmailDataSchema.parse(data);
    const base = makeDelivery('email', parsed, { body: '' });
    const webhook: Webhook = base.webhook;
    const request = await compileWebhookTemplates(webhook, {
      templateFields: emailTransport.templateFields,
    }).render(event);
    return { ...base, eventId: event.id, eventType: event.type, request };
  }

  it('sends templated recipients, subject, HTML and a base64 attachment from a pointer', async () => {
    const d = await rendered({
      host: '127.0.0.1',
      port: sink.port,
      auth: { user: sink.user, pass: sink.password },
      from: '"Billing" <billing@example.com>',
      to: '{/data/customer/email}',
      cc: '{/data/accounting}',
      bcc: 'archive@example.com',
      subject: 'Invoice {/data/number}',
      text: 'Hello {/data/customer/name}, invoice {/data/number} is attached.',
      html: '<p>Hello {/data/customer/name}</p>',
      attachments: [
        {
          filename: 'invoice-{/data/number}.pdf',
          content: '{/data/document}',
          contentType: 'application/pdf',
        },
      ],
    });
    const r = await t.send(d, AbortSignal.timeout(5_000));
    assert.equal(r.outcome, 'success', JSON.stringify(r));
    const m = sink.messages.find((x) => x.headers.subject === 'Invoice INV-7');
    assert.ok(m);
    assert.equal(m.from, 'billing@example.com');
    assert.deepEqual(m.to.sort(), [
      'alice@example.com',
      'archive@example.com',
      'audit@example.com',
      'books@example.com',
    ]);
    assert.equal(m.headers.bcc, undefined, 'bcc must not show in the message');
    assert.match(m.headers.cc, /books@example\.com, audit@example\.com/);
    assert.equal(m.text?.trim(), 'Hello Alice, invoice INV-7 is attached.');
    assert.equal(m.html?.trim(), '<p>Hello Alice</p>');
    assert.equal(m.attachments.length, 1);
    assert.equal(m.attachments[0].filename, 'invoice-INV-7.pdf');
    assert.equal(m.attachments[0].contentType, 'application/pdf');
    assert.deepEqual(m.attachments[0].content, PDF);
    assert.equal(m.headers['message-id'], `<${d.id}@hookd>`);
    assert.equal(m.headers['x-hookd-event-id'], 'evt-mail-1');
  });

  it('without text or html, the rendered body is the text', async () => {
    const d = await rendered({
      host: '127.0.0.1',
      port: sink.port,
      from: 'hookd@example.com',
      to: 'ops@example.com',
      subject: 'raw {/id}',
    });
    assert.equal((await t.send(d, AbortSignal.timeout(5_000))).outcome, 'success');
    const m = sink.messages.find((x) => x.headers.subject === 'raw evt-mail-1');
    assert.deepEqual(JSON.parse(m?.text ?? ''), event.body);
  });

  it('a recipient pointer with no value is a permanent error naming the field', async () => {
    const d = await rendered({
      host: '127.0.0.1',
      port: sink.port,
      from: 'a@example.com',
      to: '{/data/nobody}',
    });
    const r = await t.send(d, AbortSignal.timeout(5_000));
    assert.equal(r.outcome, 'permanent');
    assert.match(r.outcome === 'permanent' ? r.error : '', /the to template found no address/);
  });

  it('an attachment pointer that is not base64 is a permanent error', async () => {
    const d = await rendered({
      host: '127.0.0.1',
      port: sink.port,
      from: 'a@example.com',
      to: 'b@example.com',
      attachments: [{ filename: 'x.pdf', content: '{/data/customer/name} !!' }],
    });
    const r = await t.send(d, AbortSignal.timeout(5_000));
    assert.equal(r.outcome, 'permanent');
    assert.match(r.outcome === 'permanent' ? r.error : '', /attachments\[0\]\.content is not base64/);
  });

  it('a refused SMTP login never shows the password', async () => {
    const d = await rendered({
      host: '127.0.0.1',
      port: sink.port,
      auth: { user: sink.user, pass: 'a-secret-that-must-not-leak' },
      from: 'a@example.com',
      to: 'b@example.com',
    });
    const r = await t.send(d, AbortSignal.timeout(5_000));
    assert.equal(r.outcome, 'permanent');
    assert.ok(!JSON.stringify(r).includes('a-secret-that-must-not-leak'));
  });

  it('SMTP on a loopback address is refused by the default SSRF settings', async () => {
    const network = loopbackOnlyNetwork();
    const guarded = createEmail({
      logger: pino({ level: 'silent' }),
      timeoutMs: 5_000,
      security: { allowPrivateNetworks: false, allowList: [] },
      network,
    });
    try {
      const d = await rendered({
        host: '127.0.0.1',
        port: sink.port,
        from: 'a@example.com',
        to: 'b@example.com',
      });
      const r = await guarded.send(d, AbortSignal.timeout(5_000));
      assert.equal(r.outcome, 'permanent');
      assert.match(
        r.outcome === 'permanent' ? r.error : '',
        /refused to connect to 127\.0\.0\.1: a loopback address/,
      );
      assert.deepEqual(network.dialed, []);
    } finally {
      await guarded.close();
    }
  });
});
