/**
 * The KV buckets and streams of the `jetstream` backend (DESIGN.md section 8:
 * names start with `HOOKD_` / `hookd.`), how they are opened, and how a
 * webhook id becomes a key.
 */
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { isCode, patiently, replicasText, STREAM_NAME_IN_USE } from '../../source/index.ts';

/** API webhooks: `webhook.<id>` (the sealed spec) and `gone.<number>` (a deletion, never undone). */
export const WEBHOOKS_BUCKET = 'HOOKD_WEBHOOKS';
/** Run-time webhook states: `state.<id>`. */
export const STATES_BUCKET = 'HOOKD_STATES';
/** Blocks of webhook numbers: each publish's stream sequence is a block only its publisher hands out. */
export const NUMBERS_STREAM = 'HOOKD_WEBHOOK_NUMBERS';
export const NUMBERS_SUBJECT = 'hookd.webhook-numbers';

/**
 * Creates the bucket with `replicas` (1, or 3 on a cluster), or opens it as
 * it is when it exists (an operator may have changed its settings), also
 * when another replica created it at the same moment.
 */
export async function openBucket(nc: NatsConnection, name: string, replicas: number): Promise<KV> {
  const kvm = new Kvm(nc);
  return patiently(`create the KV bucket ${name} (${replicasText(replicas)})`, () =>
    kvm.create(name, { history: 1, replicas }).catch((err: unknown) => {
      if (isCode(err, STREAM_NAME_IN_USE)) return kvm.open(name);
      throw err;
    }),
  );
}

const PLAIN_TOKEN = /^[-_a-zA-Z0-9]+$/;

/**
 * A webhook id as one KV key token. Keys allow `[-_=a-zA-Z0-9]` in a token:
 * every other UTF-8 byte, and `=` itself, is written `=XX` (two hex digits),
 * so distinct ids never share a key.
 */
export function idToken(id: string): string {
  // Most ids are a token as they are (no escaping): checked once, without building a string.
  if (PLAIN_TOKEN.test(id)) return id;
  let out = '';
  for (const ch of id) {
    if (/[-_a-zA-Z0-9]/.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `=${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The webhook id a token stands for (the inverse of `idToken`); undefined when it is not one. */
export function tokenId(token: string): string | undefined {
  if (!/^(?:[-_a-zA-Z0-9]|=[0-9a-f]{2})*$/.test(token)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '=') {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(token.charCodeAt(i));
  }
  const id = Buffer.from(bytes).toString('utf8');
  return idToken(id) === token ? id : undefined;
}
