/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): headers
 * `webhook-id`, `webhook-timestamp` (seconds) and `webhook-signature`, one
 * space-separated entry per key: `v1,<base64 HMAC-SHA256>` for a `whsec_`
 * secret, `v1a,<base64 Ed25519>` for a `whsk_` one, both over
 * `id.timestamp.body`. During a rotation's overlap the old keys sign too
 * (old first), so a receiver holding either secret verifies every attempt.
 */
import { createHmac, sign } from 'node:crypto';
import type { SigningKey } from '../../rules/index.ts';

function signatureOf(key: SigningKey, content: string): string {
  if (key.scheme === 'v1') return `v1,${createHmac('sha256', key.key).update(content).digest('base64')}`;
  return `v1a,${sign(null, Buffer.from(content), key.privateKey).toString('base64')}`;
}

export function signatureHeaders(
  keys: readonly SigningKey[],
  id: string,
  body: string,
  now: number,
): Record<string, string> {
  const timestamp = Math.floor(now / 1000).toString();
  const content = `${id}.${timestamp}.${body}`;
  return {
    'webhook-id': id,
    'webhook-timestamp': timestamp,
    'webhook-signature': keys.map((k) => signatureOf(k, content)).join(' '),
  };
}
