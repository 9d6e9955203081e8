/**
 * Webhooks created through the API, in the KV bucket `HOOKD_WEBHOOKS` that
 * every replica watches (DESIGN.md section 8): a webhook created, replaced
 * or deleted through any replica is in this replica's set as soon as the
 * watcher delivers it (milliseconds; the contract allows 1 s).
 *
 * Secrets are sealed by the same `SpecSeal` the sqlite store uses before a
 * spec leaves the process, and opened when read: the bucket never holds a
 * secret in clear when `security.secretsKey` is set.
 *
 * The rules that keep replicas consistent without compare-and-set under
 * contention (nats-server #4320):
 * - **Whole records, last writer wins.** `webhook.<id>` holds the whole
 *   webhook (sealed spec, number, audit fields), written by any replica with
 *   a plain put and never read-modified-written; every replica applies the
 *   bucket's order (`KvView`), so all end with the same record. Two replicas
 *   replacing one webhook at once behave like two PUTs to one process.
 * - **Numbers have a single writer**: each replica hands out numbers only
 *   from blocks it reserved (`WebhookNumbers`), so two webhooks never share one.
 * - **Deletion is a fact never undone.** Deleting writes `gone.<number>` after
 *   removing `webhook.<id>`; a webhook is live only while no `gone` fact
 *   names its number. A replica that had not yet seen the deletion and puts
 *   the old record back (a late update) therefore cannot revive it, on any
 *   replica or after a restart; creating the id again gets a new number.
 * - Creating one id through two replicas within the propagation window:
 *   both are accepted and the later write wins everywhere (as a replace).
 *
 * Writes apply to this replica's view at once, as the contract's synchronous
 * methods require, and reach the bucket in the background; `flush()` waits
 * for them and reports a failure (the view then shows what the bucket has).
 */
import type { ApiWebhookStore, SpecSeal, StoredWebhook } from '../contract.ts';
import { DuplicateWebhookError } from '../errors.ts';
import { idToken } from './buckets.ts';
import type { KvView, ViewChange } from './kv-view.ts';
import type { WebhookNumbers } from './webhook-numbers.ts';

/** What `webhook.<id>` holds; `gone.<number>` holds `{ id, number, at }`. */
export interface WebhookRecord {
  id: string;
  number: number;
  /** The spec with its secrets sealed. */
  spec: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export type WebhooksEntry = WebhookRecord | { id: string; number: number; at: number };

const PLAIN: SpecSeal = { seal: (_id, spec) => spec, open: (_id, spec) => spec };
const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads a `HOOKD_WEBHOOKS` value; undefined when it is not one. */
export function decodeWebhooksEntry(key: string, bytes: Uint8Array): WebhooksEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  if (!isObj(v) || typeof v.id !== 'string' || !Number.isSafeInteger(v.number)) return undefined;
  if (key.startsWith('gone.')) return typeof v.at === 'number' ? (v as WebhooksEntry) : undefined;
  const ok = isObj(v.spec) && typeof v.createdAt === 'number' && typeof v.updatedAt === 'number';
  return ok ? (v as unknown as WebhookRecord) : undefined;
}

const webhookKey = (id: string) => `webhook.${idToken(id)}`;
const goneKey = (n: number) => `gone.${n}`;

export class JetStreamApiWebhooks implements ApiWebhookStore {
  constructor(
    private readonly view: KvView<WebhooksEntry>,
    private readonly numbers: WebhookNumbers,
    private readonly sealer: SpecSeal = PLAIN,
  ) {}

  /** The record of a live webhook: stored, and its number not deleted. */
  private live(id: string): WebhookRecord | undefined {
    const r = this.view.get(webhookKey(id));
    if (!r || !('spec' in r) || r.id !== id) return undefined;
    return this.view.get(goneKey(r.number)) ? undefined : r;
  }

  private records(): WebhookRecord[] {
    const out: WebhookRecord[] = [];
    for (const [key, r] of this.view.entries()) {
      if (key.startsWith('webhook.') && 'spec' in r && !this.view.get(goneKey(r.number))) out.push(r);
    }
    return out.sort((a, b) => a.number - b.number);
  }

  private open(r: WebhookRecord): StoredWebhook {
    const row = { id: r.id, number: r.number, createdAt: r.createdAt, updatedAt: r.updatedAt };
    try {
      return { ...row, spec: this.sealer.open(r.id, r.spec) };
    } catch (err) {
      return { ...row, spec: r.spec, unreadable: (err as Error).message };
    }
  }

  all(): StoredWebhook[] {
    return this.records().map((r) => this.open(r));
  }

  get(id: string): StoredWebhook | undefined {
    const r = this.live(id);
    return r && this.open(r);
  }

  byNumber(n: number): StoredWebhook | undefined {
    const r = this.records().find((w) => w.number === n);
    return r && this.open(r);
  }

  insert(id: string, spec: Record<string, unknown>, now: number): StoredWebhook {
    if (this.live(id)) throw new DuplicateWebhookError(id);
    const r: WebhookRecord = {
      id,
      number: this.numbers.take(),
      spec: this.sealer.seal(id, spec),
      createdAt: now,
      updatedAt: now,
    };
    void this.view.write(webhookKey(id), r).catch(() => {});
    return this.open(r);
  }

  update(id: string, spec: Record<string, unknown>, now: number): boolean {
    const r = this.live(id);
    if (!r) return false;
    const next: WebhookRecord = { ...r, spec: this.sealer.seal(id, spec), updatedAt: now };
    void this.view.write(webhookKey(id), next).catch(() => {});
    return true;
  }

  delete(id: string): boolean {
    const r = this.live(id);
    if (!r) return false;
    const gone = { id, number: r.number, at: Date.now() };
    // The record goes first, the fact after it: a replica that sees the fact has seen the removal.
    const removed = this.view.write(webhookKey(id), undefined);
    void removed.then(
      () => this.view.write(goneKey(r.number), gone).catch(() => {}),
      () => {},
    );
    return true;
  }

  /** Calls `fn` with the id of each webhook another replica created, replaced or deleted. */
  onRemoteChange(fn: (id: string) => void): void {
    this.view.onChange((c: ViewChange<WebhooksEntry>) => {
      if (c.local) return;
      const r = c.value ?? c.previous;
      if (r) fn(r.id);
    });
  }
}
