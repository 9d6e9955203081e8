/**
 * What the HTTP transport adds to the stored request at send time: secret
 * headers, credentials and the Standard Webhooks signature. Explain shows
 * these lines; the values are made per attempt and never stored.
 */
import type { Webhook } from '../../rules/index.ts';

/** What the HTTP transport adds per attempt (for `hookd explain`): named, secrets shown as `redacted`. */
export function describeSend(w: Webhook, redacted: string): string[] {
  const out: string[] = [];
  for (const [name, h] of Object.entries(w.headers)) {
    if (h.secret && h.value !== undefined) out.push(`header ${name}: ${redacted} (secret header)`);
  }
  const a = w.authentication;
  if (a !== undefined && a !== 'none' && a.type !== 'none') {
    if (a.type === 'basic') out.push(`authorization: Basic ${redacted} (user ${a.username})`);
    else if (a.type === 'bearer') out.push(`authorization: Bearer ${redacted}`);
    else
      out.push(
        `${a.header_format}: ${a.header_value_format.replace('%ACCESS_TOKEN%', redacted)} (OAuth2 token from ${a.endpoint})`,
      );
  }
  if (w.secret)
    out.push(
      `webhook-id, webhook-timestamp, webhook-signature: Standard Webhooks signature with the webhook secret ${redacted}`,
    );
  return out;
}
