/**
 * Run-time webhook states (breaker, operator, 410) in the KV bucket
 * `HOOKD_STATES` that every replica watches: `state.<id>` holds the whole
 * state of one webhook (`{ state, reason, data, updatedAt }`).
 *
 * Without compare-and-set (nats-server #4320) the rule is **whole records,
 * last writer wins**: a save writes the complete state, never a change to
 * the one read, so replaying or reordering nothing can mix two writers'
 * fields, and every replica applies the bucket's order (`KvView`) and ends
 * with its last record. Who may write a webhook's state when (one breaker
 * per webhook cluster-wide) is decided above the store; this store only
 * guarantees that every replica converges on the same record.
 */
import type { WebhookStateStore } from '../contract.ts';
import { idToken } from './buckets.ts';
import type { KvView } from './kv-view.ts';

export interface StateRecord {
  webhookId: string;
  state: string;
  reason: string | null;
  data: string | null;
  updatedAt: number;
}

const orNull = (v: unknown) => v === null || typeof v === 'string';

/** Reads a `HOOKD_STATES` value; undefined when it is not one. */
export function decodeStateRecord(_key: string, bytes: Uint8Array): StateRecord | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as Partial<StateRecord> | null;
    const ok =
      typeof v?.webhookId === 'string' &&
      typeof v.state === 'string' &&
      orNull(v.reason) &&
      orNull(v.data) &&
      typeof v.updatedAt === 'number';
    return ok ? (v as StateRecord) : undefined;
  } catch {
    return undefined;
  }
}

const stateKey = (webhookId: string) => `state.${idToken(webhookId)}`;

export class JetStreamWebhookStates implements WebhookStateStore {
  constructor(private readonly view: KvView<StateRecord>) {}

  loadWebhookStates(): ReturnType<WebhookStateStore['loadWebhookStates']> {
    return [...this.view.entries()].map(([, r]) => ({
      webhookId: r.webhookId,
      state: r.state,
      reason: r.reason,
      data: r.data,
      updatedAt: r.updatedAt,
    }));
  }

  /**
   * Writes the whole record, unless the bucket has that very record already
   * (cluster breakers: every replica computes the same record of a
   * transition, and the first one written is enough).
   */
  saveWebhookState: WebhookStateStore['saveWebhookState'] = (webhookId, state, reason, data, now) => {
    const key = stateKey(webhookId);
    const cur = this.view.get(key);
    if (
      cur?.webhookId === webhookId &&
      cur.state === state &&
      cur.reason === reason &&
      cur.data === data &&
      cur.updatedAt === now
    )
      return;
    void this.view.write(key, { webhookId, state, reason, data, updatedAt: now }).catch(() => {});
  };

  deleteWebhookState(webhookId: string): void {
    void this.view.write(stateKey(webhookId), undefined).catch(() => {});
  }

  /** Calls `fn` when another replica set or removed a webhook's state (undefined: removed). */
  onRemoteChange(fn: (webhookId: string, record: StateRecord | undefined) => void): void {
    this.view.onChange((c) => {
      if (c.local) return;
      const r = c.value ?? c.previous;
      if (r) fn(r.webhookId, c.value);
    });
  }
}
