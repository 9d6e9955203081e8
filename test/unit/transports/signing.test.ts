/**
 * Issue 16, Standard Webhooks: which secrets sign at a given time (a
 * rotation's overlap ends at its `until`, checked with an injected clock),
 * the signature header of mixed kinds, and a bad secret in a rule file is a
 * config error at its file:line:col.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { formatProblem } from '../../../src/config/problems.ts';
import { loadRuleFiles } from '../../../src/rules/load.ts';
import { generateSigningSecret, parseSigningSecret, publicKeyOf } from '../../../src/rules/signing-secret.ts';
import { signingSecrets } from '../../../src/transports/http/index.ts';
import { signatureHeaders } from '../../../src/transports/http/signature.ts';
import { TransportRegistry } from '../../../src/transports/registry.ts';

const OLD = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const NEW = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';

describe('signing secrets', () => {
  it('a rotated-out secret signs until its overlap ends, old first', () => {
    const w = { secret: NEW, previousSecrets: [{ secret: OLD, until: 10_000 }] };
    assert.deepEqual(signingSecrets(w, 9_999), [OLD, NEW]);
    assert.deepEqual(signingSecrets(w, 10_000), [NEW]);
    assert.deepEqual(
      signingSecrets({ previousSecrets: w.previousSecrets }, 0),
      [],
      'no current secret, no signing',
    );
  });

  it('both entries verify with the standardwebhooks library; a whsk_ key adds a v1a entry', () => {
    const ed = generateSigningSecret('whsk_');
    const keys = [OLD, NEW, ed].map(parseSigningSecret);
    const body = '{"a":1}';
    const headers = signatureHeaders(keys, 'msg_1', body, Date.now());
    const entries = headers['webhook-signature']!.split(' ');
    assert.deepEqual(
      entries.map((e) => e.split(',')[0]),
      ['v1', 'v1', 'v1a'],
    );
    new StandardWebhook(OLD).verify(body, headers);
    new StandardWebhook(NEW).verify(body, headers);
    assert.match(publicKeyOf(ed)!, /^whpk_/);
    assert.equal(publicKeyOf(OLD), undefined);
  });

  it('a 64-byte whsk_ key must end in its own public key', () => {
    const seed = Buffer.from(generateSigningSecret('whsk_').slice(5), 'base64');
    const pub = Buffer.from(publicKeyOf(`whsk_${seed.toString('base64')}`)!.slice(5), 'base64');
    assert.equal(parseSigningSecret(`whsk_${Buffer.concat([seed, pub]).toString('base64')}`).scheme, 'v1a');
    assert.throws(
      () => parseSigningSecret(`whsk_${Buffer.concat([seed, Buffer.alloc(32)]).toString('base64')}`),
      /not the public key/,
    );
  });

  it('a rule file may keep an old secret signing until a date (a rotation of a file webhook)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookd-secret-'));
    try {
      writeFileSync(
        join(dir, 'hooks.yaml'),
        `webhooks:\n  - identifier: a\n    url: http://127.0.0.1:1/\n    secret: ${NEW}\n    previousSecrets:\n      - {secret: ${OLD}, until: 2030-01-01T00:00:00Z}\n`,
      );
      const loaded = loadRuleFiles(dir, new TransportRegistry());
      assert.deepEqual(loaded.problems, []);
      const w = loaded.webhooks[0]!;
      assert.deepEqual(signingSecrets(w, Date.parse('2029-12-31T23:59:59Z')), [OLD, NEW]);
      assert.deepEqual(signingSecrets(w, Date.parse('2030-01-01T00:00:00Z')), [NEW]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad secret in a rule file is a config error at its file:line:col', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookd-secret-'));
    try {
      writeFileSync(
        join(dir, 'hooks.yaml'),
        'webhooks:\n  - identifier: a\n    url: http://127.0.0.1:1/\n    secret: not base64 at all!\n',
      );
      const loaded = loadRuleFiles(dir, new TransportRegistry());
      assert.equal(loaded.webhooks.length, 0);
      const messages = loaded.problems.map(formatProblem);
      assert.equal(messages.length, 1, messages.join('\n'));
      assert.match(messages[0]!, /hooks\.yaml:4:13: .*secret.*whsec_/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
