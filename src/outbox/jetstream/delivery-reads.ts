/**
 * The API's reads of deliveries in the `jetstream` backend, answered from
 * the streams alone (records.ts), so every replica answers the same:
 * pending ones are in the work queues (`HOOKD_DELIVERIES`,
 * `HOOKD_RETRIES`), finished ones in `HOOKD_SUCCEEDED` and
 * `HOOKD_DEAD_LETTERS` under a subject ending in their id.
 *
 * A webhook's page merges the four streams newest first: each stream is
 * read from its end (its sequence is the order things happened in it), and
 * the merge takes the message stored last (stream time, then stream, then
 * sequence). The cursor holds, per stream, the sequence below which the
 * next page goes on, so a page never repeats or skips a record of a
 * stream; a delivery that moves to another stream between two pages (it was
 * attempted meanwhile) may show on both or neither, as in any live list.
 * "Newest" is when a delivery last moved: queued, retried or finished.
 *
 * Pending deliveries carry no id in their subject (a webhook's consumer
 * filters on the webhook alone), so `get` finds a pending one by reading
 * its webhook's queue from the end when the webhook is known (a delivery
 * this replica listed or requeued), else the newest `PENDING_SCAN` of
 * each queue; finished ones are found by subject, whatever their age.
 */
import { type JetStreamManager, jetstreamManager, type StoredMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { AttemptRow, DeliveryPage, DeliveryRow, DeliveryState, StoredRequest } from '../contract.ts';
import { InvalidCursorError } from '../errors.ts';
import { SubjectReader } from './browse.ts';
import { idToken } from './buckets.ts';
import {
  ATTEMPT_HEADER,
  DEAD_LETTERS_STREAM,
  DELIVERIES_STREAM,
  type FinishedRecord,
  NOT_BEFORE_HEADER,
  type QueuedMessage,
  RETRIES_STREAM,
  SUCCEEDED_STREAM,
} from './records.ts';

/** How many of each queue's newest messages `get` reads for a pending delivery of an unknown webhook. */
export const PENDING_SCAN = 2000;
/** Records read lately, for `attempts.of` right after a page (the API lists each item's attempts). */
const RECENT = 2000;

/** The four streams of a webhook's deliveries, in cursor order. */
const SOURCES = [
  { stream: DELIVERIES_STREAM, subject: (w: string) => `hookd.deliveries.${w}`, state: 'pending' },
  { stream: RETRIES_STREAM, subject: (w: string) => `hookd.retries.${w}`, state: 'pending' },
  { stream: SUCCEEDED_STREAM, subject: (w: string) => `hookd.succeeded.${w}.*`, state: 'succeeded' },
  { stream: DEAD_LETTERS_STREAM, subject: (w: string) => `hookd.dead.${w}.*`, state: 'failed' },
] as const;

/** The request of a succeeded delivery's row: its record does not keep it (records.ts). */
const NO_REQUEST: StoredRequest = { body: '' };

/** A delivery id can only be a subject token of letters, digits, `-` and `_` (`msg_` and base64url). */
export const isDeliveryId = (id: string) => /^[A-Za-z0-9_-]{1,200}$/.test(id);

const numberHeader = (m: StoredMsg, name: string): number | undefined => {
  const v = m.header?.get(name);
  return v ? Number(v) : undefined;
};

/** A stored message as the API's delivery row; undefined when it is not one of hookd's records. */
export function rowOf(
  m: StoredMsg,
  stream: string,
): { row: DeliveryRow; attempts: AttemptRow[] } | undefined {
  let r: QueuedMessage | FinishedRecord;
  try {
    r = m.json<QueuedMessage | FinishedRecord>();
  } catch {
    return undefined;
  }
  if (typeof r?.id !== 'string' || typeof r.webhookId !== 'string') return undefined;
  // A succeeded record has no request (records.ts); every other record has one.
  if (stream !== SUCCEEDED_STREAM && typeof r.request?.body !== 'string') return undefined;
  const attempts = Array.isArray(r.attempts) ? r.attempts : [];
  const finished = stream === SUCCEEDED_STREAM || stream === DEAD_LETTERS_STREAM;
  const last = attempts.at(-1);
  const updated = m.time.getTime();
  const row: DeliveryRow = {
    id: r.id,
    event_id: r.eventId,
    event_type: r.eventType,
    webhook_id: r.webhookId,
    identifier: r.identifier,
    transport: r.transport,
    priority: r.priority,
    attempts: numberHeader(m, ATTEMPT_HEADER) ?? attempts.length,
    received_at: r.receivedAt,
    request: r.request ?? NO_REQUEST,
    state: finished ? (stream === SUCCEEDED_STREAM ? 'succeeded' : 'failed') : 'pending',
    next_attempt_at: finished ? updated : (numberHeader(m, NOT_BEFORE_HEADER) ?? updated),
    updated_at: finished ? ((r as FinishedRecord).finishedAt ?? updated) : updated,
    last_error: finished
      ? ((r as FinishedRecord).lastError ?? null)
      : last && last.outcome !== 'success'
        ? last.error
        : null,
  };
  return { row, attempts };
}

interface Candidate {
  source: number;
  msg: StoredMsg;
}

/** The nanoseconds below the millisecond of a stored message's time (the server's RFC 3339 stamp has them; `time` does not). */
const subMillis = (m: StoredMsg) =>
  Number((/\.(\d+)/.exec(m.timestamp)?.[1] ?? '').padEnd(9, '0').slice(3, 9));

/** Newest first: stored later (to the nanosecond), then the later stream of the cursor, then the higher sequence. */
const newer = (a: Candidate, b: Candidate) =>
  b.msg.time.getTime() - a.msg.time.getTime() ||
  subMillis(b.msg) - subMillis(a.msg) ||
  b.source - a.source ||
  b.msg.seq - a.msg.seq;

/** The cursor: per stream, the sequence the next page reads below (0: that stream is done). */
function parseCursor(before: string | undefined): number[] {
  if (before === undefined) return SOURCES.map(() => Number.MAX_SAFE_INTEGER);
  const m = /^js1:(\d{1,16})\.(\d{1,16})\.(\d{1,16})\.(\d{1,16})$/.exec(before);
  if (!m) throw new InvalidCursorError();
  const bounds = m.slice(1).map(Number);
  if (!bounds.every(Number.isSafeInteger)) throw new InvalidCursorError();
  return bounds;
}

export class DeliveryReads {
  /** Attempts of records read lately (a page's items), and the webhook of each delivery seen. */
  private readonly recent = new Map<string, AttemptRow[]>();
  private readonly webhookOf = new Map<string, string>();

  private constructor(private readonly jsm: JetStreamManager) {}

  static async open(nc: NatsConnection): Promise<DeliveryReads> {
    return new DeliveryReads(await jetstreamManager(nc));
  }

  private reader(stream: string, subject: string): SubjectReader {
    return new SubjectReader(this.jsm, stream, subject);
  }

  /** Remembers that a delivery belongs to a webhook (so `get` reads that webhook's queue first). */
  noteWebhook(deliveryId: string, webhookId: string): void {
    this.webhookOf.delete(deliveryId);
    this.webhookOf.set(deliveryId, webhookId);
    if (this.webhookOf.size > RECENT) this.webhookOf.delete(this.webhookOf.keys().next().value!);
  }

  private remember(row: DeliveryRow, attempts: AttemptRow[]): void {
    this.recent.delete(row.id);
    this.recent.set(row.id, attempts);
    if (this.recent.size > RECENT) this.recent.delete(this.recent.keys().next().value!);
    this.noteWebhook(row.id, row.webhook_id);
  }

  async byWebhook(
    webhookId: string,
    opts: { state?: DeliveryState; limit: number; before?: string },
  ): Promise<DeliveryPage> {
    const bounds = parseCursor(opts.before);
    const token = idToken(webhookId);
    const wanted = (state: string) =>
      opts.state === undefined || opts.state === state || (opts.state === 'inflight' && state === 'pending');
    const candidates: Candidate[] = [];
    await Promise.all(
      SOURCES.map(async (s, i) => {
        if (!wanted(s.state) || bounds[i] === 0) return;
        const found = await this.reader(s.stream, s.subject(token)).newest(bounds[i]!, opts.limit);
        for (const msg of found) candidates.push({ source: i, msg });
      }),
    );
    candidates.sort(newer);
    const items: DeliveryRow[] = [];
    const next = bounds.map((b, i) => (wanted(SOURCES[i]!.state) ? b : 0));
    for (const c of candidates) {
      if (items.length === opts.limit) break;
      next[c.source] = c.msg.seq;
      const read = rowOf(c.msg, SOURCES[c.source]!.stream);
      if (!read) continue;
      this.remember(read.row, read.attempts);
      items.push(read.row);
    }
    // A stream that gave fewer than asked has nothing more below its last one.
    for (let i = 0; i < SOURCES.length; i++) {
      const given = candidates.filter((c) => c.source === i).length;
      if (given < opts.limit && candidates.filter((c) => c.source === i).every((c) => c.msg.seq >= next[i]!))
        next[i] = 0;
    }
    const more = items.length === opts.limit && next.some((b) => b > 1);
    return { items, next: more ? `js1:${next.join('.')}` : null };
  }

  /** A delivery by id: finished ones by subject, pending ones from the end of their queue. */
  async get(id: string): Promise<{ row: DeliveryRow; attempts: AttemptRow[] } | undefined> {
    if (!isDeliveryId(id)) return undefined;
    // A delivery may move on while it is looked for (pending → its end record, in milliseconds once a
    // replica takes it; the waiting room → its queue): each move stores the new home before it leaves
    // the old one, so a second look finds what the first missed between two reads.
    for (let look = 0; look < 2; look++) {
      const found = (await this.finished(id)) ?? (await this.pending(id));
      if (found) {
        this.remember(found.row, found.attempts);
        return found;
      }
    }
    return undefined;
  }

  /** Its end record, the newest of succeeded and dead letter. */
  private async finished(id: string): Promise<{ row: DeliveryRow; attempts: AttemptRow[] } | undefined> {
    const finished = await Promise.all(
      [SUCCEEDED_STREAM, DEAD_LETTERS_STREAM].map(async (stream) => {
        const subject = stream === SUCCEEDED_STREAM ? `hookd.succeeded.*.${id}` : `hookd.dead.*.${id}`;
        const m = await this.reader(stream, subject).last();
        return m && { m, stream };
      }),
    );
    const newest = finished
      .filter((f) => f !== null)
      .sort((a, b) => b.m.time.getTime() - a.m.time.getTime())[0];
    return newest ? rowOf(newest.m, newest.stream) : undefined;
  }

  private async pending(id: string): Promise<{ row: DeliveryRow; attempts: AttemptRow[] } | undefined> {
    const webhook = this.webhookOf.get(id);
    for (const s of SOURCES.slice(0, 2)) {
      const subject = webhook === undefined ? s.subject('*') : s.subject(idToken(webhook));
      const reader = this.reader(s.stream, subject);
      let below = Number.MAX_SAFE_INTEGER;
      for (let read = 0; read < PENDING_SCAN; ) {
        const page = await reader.newest(below, 200);
        for (const m of page) {
          const r = rowOf(m, s.stream);
          if (r?.row.id === id) return r;
        }
        if (page.length < 200) break;
        read += page.length;
        below = page.at(-1)!.seq;
      }
    }
    return undefined;
  }

  /** The attempts of a delivery, oldest first (from its record: it carries its whole history). */
  async attemptsOf(id: string): Promise<AttemptRow[]> {
    const known = this.recent.get(id);
    if (known) return known;
    return (await this.get(id))?.attempts ?? [];
  }
}
