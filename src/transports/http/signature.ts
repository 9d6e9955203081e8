/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): headers
 * `webhook-id`, `webhook-timestamp` (seconds) and `webhook-signature`
 * `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. The key is the secret's
 * base64 part after an optional `whsec_` prefix.
 */
import { createHmac } from 'node:crypto';

const PREFIX = 'whsec_';

/** Decodes a signing secret into its key bytes (cache the result: this runs per attempt). */
export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64');
}

export function signatureHeaders(key: Buffer, id: string, body: string, now: number): Record<string, string> {
  const timestamp = Math.floor(now / 1000).toString();
  const sig = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${sig}` };
}
