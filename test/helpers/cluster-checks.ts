/**
 * What the cluster tests (issue 15) do and check from outside hookd: publish
 * events to NATS (each until acknowledged), count what a receiver got by
 * event and webhook-id, sum a counter over the replicas, read hookd's
 * streams (the work queues must end empty).
 */
import assert from 'node:assert/strict';
import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import { idToken } from '../../src/outbox/jetstream/index.ts';
import type { Receiver } from './receiver.ts';
import type { Replica } from './replicas.ts';
import { waitFor } from './wait.ts';

/**
 * Publishes CloudEvents `{ id, type }` to `events.<type>`, 256 in flight,
 * each retried until JetStream acknowledges it (`Nats-Msg-Id` = the event id,
 * so a retry of a publish that did land is stored once): a stream leader
 * killed meanwhile delays publishes, it does not lose them. `perSecond`
 * paces them. Resolves with the number of retries and duplicates.
 */
export async function publishEvents(
  natsUrl: string | readonly string[],
  events: readonly { id: string; type: string }[],
  opts: { timeoutMs?: number; onPublished?: (n: number) => void; perSecond?: number } = {},
): Promise<{ retries: number; duplicates: number }> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstream } = await import('@nats-io/jetstream');
  const nc = await connect({
    servers: typeof natsUrl === 'string' ? natsUrl : [...natsUrl],
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  let retries = 0;
  let duplicates = 0;
  let published = 0;
  try {
    const js = jetstream(nc);
    const one = async (e: { id: string; type: string }) => {
      const data = JSON.stringify({ specversion: '1.0', id: e.id, type: e.type, source: '/test', data: {} });
      for (;;) {
        try {
          const ack = await js.publish(`events.${e.type}`, data, { msgID: e.id, timeout: 5000 });
          if (ack.duplicate) duplicates++;
          opts.onPublished?.(++published);
          return;
        } catch (err) {
          if (Date.now() > deadline)
            throw new Error(`publishing event ${e.id} failed until the deadline: ${(err as Error).message}`);
          retries++;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    };
    const inFlight = new Set<Promise<void>>();
    // Paced without catching up: after a stall (a leader election) the rate stays `perSecond`.
    let next = Date.now();
    for (const e of events) {
      if (opts.perSecond) {
        const ahead = next - Date.now();
        if (ahead > 5) await new Promise((r) => setTimeout(r, ahead));
        next = Math.max(next, Date.now() - 100) + 1000 / opts.perSecond;
      }
      while (inFlight.size >= 256) await Promise.race(inFlight);
      const p: Promise<void> = one(e).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  } finally {
    await nc.close();
  }
  return { retries, duplicates };
}

/** `n` events `<prefix>-0` … of one type. */
export const events = (prefix: string, type: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, type }));

/** What a receiver got, by event id: the requests and the webhook-ids they carried. */
export function tally(requests: readonly { body: string; headers: Record<string, unknown> }[]): {
  requests: number;
  events: Map<string, { count: number; webhookIds: Set<string> }>;
  /** Events sent more than once with different webhook-ids (must be none). */
  mixed: string[];
  duplicates: number;
} {
  const byEvent = new Map<string, { count: number; webhookIds: Set<string> }>();
  for (const r of requests) {
    let id = '?';
    try {
      id = String((JSON.parse(r.body) as { id: unknown }).id);
    } catch {}
    const e = byEvent.get(id) ?? { count: 0, webhookIds: new Set<string>() };
    e.count++;
    e.webhookIds.add(String(r.headers['webhook-id'] ?? ''));
    byEvent.set(id, e);
  }
  const mixed = [...byEvent]
    .filter(([, e]) => e.webhookIds.size !== 1 || e.webhookIds.has(''))
    .map(([id]) => id);
  return { requests: requests.length, events: byEvent, mixed, duplicates: requests.length - byEvent.size };
}

/** Messages in each named stream now (absent streams: null), read with a connection of its own. */
export async function streamMessages(
  natsUrl: string | readonly string[],
  names: readonly string[],
): Promise<Record<string, number | null>> {
  return withJsm(natsUrl, async (jsm) => {
    const out: Record<string, number | null> = {};
    for (const name of names) {
      try {
        out[name] = (await jsm.streams.info(name)).state.messages;
      } catch {
        out[name] = null;
      }
    }
    return out;
  });
}

/** Runs `fn` with a JetStream manager on a connection of its own, closed after. */
async function withJsm<T>(
  natsUrl: string | readonly string[],
  fn: (jsm: JetStreamManager) => Promise<T>,
): Promise<T> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: typeof natsUrl === 'string' ? natsUrl : [...natsUrl] });
  try {
    return await fn(await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
}

/**
 * Every message stored in `stream` now, in sequence order, read by message
 * get (no consumer: a read of a work queue must not take work). Deleted
 * ones are passed over; a stream that does not exist has none.
 */
async function* storedMessages(jsm: JetStreamManager, stream: string): AsyncGenerator<StoredMsg> {
  const state = await jsm.streams.info(stream).then(
    (i) => i.state,
    () => undefined,
  );
  if (!state) return;
  for (let seq = Math.max(1, state.first_seq); seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m) yield m;
  }
}

/**
 * Waits until hookd's work queues (HOOKD_DELIVERIES, HOOKD_RETRIES) are
 * empty: nothing pending, nothing stranded; resolves with those and the
 * dead letters' count. The default wait is above the queue's ack wait (30 s):
 * a delivery whose ack was lost with a killed consumer leader stays queued
 * until it is delivered again after that wait (a duplicate, same webhook-id).
 * Messages still there after the wait pass only if each delivery has ended.
 */
export async function workQueuesEmpty(
  natsUrl: string | readonly string[],
  timeoutMs = 75_000,
): Promise<Record<string, number | null>> {
  let last: Record<string, number | null> = {};
  try {
    return await waitFor(
      'the work queues HOOKD_DELIVERIES and HOOKD_RETRIES to be empty',
      async () => {
        last = await streamMessages(natsUrl, ['HOOKD_DELIVERIES', 'HOOKD_RETRIES', 'HOOKD_DEAD_LETTERS']);
        return last.HOOKD_DELIVERIES === 0 && last.HOOKD_RETRIES === 0 && last;
      },
      // On expiry, what is left and what the consumers think of it (stranded or waiting to come again).
      { timeoutMs, intervalMs: 250, saw: async () => ({ ...last, ...(await queueState(natsUrl)) }) },
    );
  } catch (err) {
    // nats-server 2.9 can keep, after a leader was killed, messages that no consumer will hand
    // out again: acknowledged ones (hookd purges those below the ack floor) or copies stored
    // again when a killed leader's dedupe window was lost, beyond what the consumer's replica
    // has. Left for the whole wait, they are acceptable only as deliveries that have ended:
    // each one's end record is in HOOKD_SUCCEEDED. One that has not ended would be lost work.
    if (last.HOOKD_RETRIES !== 0 || !last.HOOKD_DELIVERIES) throw err;
    const notEnded = await leftoversNotEnded(natsUrl);
    if (notEnded.length > 0)
      throw new Error(`${(err as Error).message}; not delivered: ${notEnded.join(', ')}`);
    console.log(
      `# ${last.HOOKD_DELIVERIES} messages left in HOOKD_DELIVERIES by the nats-server, every one a delivery that ended (in HOOKD_SUCCEEDED)`,
    );
    return { ...last, endedButKept: last.HOOKD_DELIVERIES };
  }
}

/** The delivery ids of HOOKD_DELIVERIES' messages that have no end record in HOOKD_SUCCEEDED. */
async function leftoversNotEnded(natsUrl: string | readonly string[]): Promise<string[]> {
  return withJsm(natsUrl, async (jsm) => {
    const notEnded: string[] = [];
    for await (const m of storedMessages(jsm, 'HOOKD_DELIVERIES')) {
      const { id, webhookId } = m.json<{ id: string; webhookId: string }>();
      const end = await jsm.streams
        .getMessage('HOOKD_SUCCEEDED', { last_by_subj: `hookd.succeeded.${idToken(webhookId)}.${id}` })
        .catch(() => null);
      if (!end) notEnded.push(id);
    }
    return notEnded;
  });
}

/** HOOKD_DELIVERIES' sequence range and each consumer's view of it. */
async function queueState(natsUrl: string | readonly string[]): Promise<Record<string, unknown>> {
  return withJsm(natsUrl, async (jsm) => {
    const { state, cluster } = await jsm.streams.info('HOOKD_DELIVERIES');
    const consumers: Record<string, unknown> = {};
    for await (const c of jsm.consumers.list('HOOKD_DELIVERIES'))
      consumers[c.name] = {
        pending: c.num_pending,
        ackPending: c.num_ack_pending,
        redelivered: c.num_redelivered,
        delivered: c.delivered.stream_seq,
        ackFloor: c.ack_floor.stream_seq,
        leader: c.cluster?.leader,
      };
    return {
      deliveries: { first: state.first_seq, last: state.last_seq, leader: cluster?.leader },
      consumers,
    } as Record<string, unknown>;
  }).catch((err: Error) => ({ stateUnreadable: err.message }));
}

/** A counter summed over the running replicas, and per replica (in the order given). */
export async function countedOn(
  replicas: readonly Replica[],
  name: string,
  labels: Record<string, string>,
): Promise<{ total: number; per: number[] }> {
  const per = await Promise.all(
    replicas.map(async (r) => (r.running ? (await r.metrics()).sum(name, labels) : 0)),
  );
  return { total: per.reduce((a, b) => a + b, 0), per };
}

/**
 * Waits for `n` distinct events at `receiver`, then for the replicas' count
 * of succeeded deliveries of `identifier` to reach `n`; resolves with that count.
 */
export async function deliveredOn(
  replicas: readonly Replica[],
  receiver: Receiver,
  identifier: string,
  n: number,
  timeoutMs = 60_000,
): Promise<{ total: number; per: number[] }> {
  await waitFor(
    `${n} distinct events at the ${identifier} receiver`,
    () => tally(receiver.requests).events.size >= n,
    {
      timeoutMs,
      intervalMs: 200,
      saw: () => `${tally(receiver.requests).events.size} events in ${receiver.requests.length} requests`,
    },
  );
  let last = { total: 0, per: [] as number[] };
  await waitFor(
    `the replicas to count ${n} succeeded deliveries of ${identifier}`,
    async () => {
      last = await countedOn(replicas, 'hookd_deliveries_total', {
        webhook: identifier,
        outcome: 'succeeded',
      });
      return last.total >= n;
    },
    { timeoutMs: 30_000, intervalMs: 200, saw: () => last },
  );
  return last;
}

/**
 * Waits until `receiver` got each of `n` events, then checks that none came
 * with two webhook-ids, the work queues are empty and there are no dead
 * letters; resolves with the tally (duplicates counted there).
 */
export async function everyEventArrived(
  natsUrl: string | readonly string[],
  receiver: Receiver,
  n: number,
  timeoutMs = 90_000,
): Promise<ReturnType<typeof tally>> {
  const t = await waitFor(
    `${n} distinct events at the receiver`,
    () => {
      const t = tally(receiver.requests);
      return t.events.size >= n && t;
    },
    {
      timeoutMs,
      intervalMs: 250,
      // Where the missing ones may be: queued (and whether a consumer still owes them) or nowhere.
      saw: async () => ({
        arrived: `${tally(receiver.requests).events.size} of ${n}`,
        ...(await streamMessages(natsUrl, ['HOOKD_DELIVERIES', 'HOOKD_RETRIES', 'HOOKD_DEAD_LETTERS'])),
        ...(await queueState(natsUrl)),
      }),
    },
  );
  assert.equal(t.events.size, n, 'no unexpected events');
  assert.deepEqual(t.mixed.slice(0, 10), [], 'a duplicate carries the same webhook-id');
  const left = await workQueuesEmpty(natsUrl);
  assert.equal(left.HOOKD_DEAD_LETTERS ?? 0, 0, 'no dead letters');
  return t;
}

/** Where one (event, webhook) pair left traces in hookd's streams. */
export interface PairTrace {
  /** Records naming the pair: `<stream> #<seq> <attempt outcomes>` (work queues, end records, outcomes). */
  records: string[];
}

/**
 * For deliveries a run found missing: every record of them in hookd's
 * streams, so a loss says where the delivery was last seen (queued, waiting,
 * ended, or never stored). Reads the streams whole, without consumers on the
 * work queues (a read must not take work): message gets, one per sequence.
 * `pairs` are `<event id>/<webhook identifier>`.
 */
export async function tracePairs(
  natsUrl: string | readonly string[],
  pairs: readonly string[],
): Promise<Map<string, PairTrace>> {
  const out = new Map<string, PairTrace>(pairs.map((p) => [p, { records: [] }]));
  const byDelivery = new Map<string, string>();
  return withJsm(natsUrl, async (jsm) => {
    for (const stream of ['HOOKD_DELIVERIES', 'HOOKD_RETRIES', 'HOOKD_SUCCEEDED', 'HOOKD_DEAD_LETTERS']) {
      for await (const m of storedMessages(jsm, stream)) {
        let d: {
          id?: string;
          eventId?: string;
          identifier?: string;
          attempts?: { outcome: string; status: number | null }[];
        };
        try {
          d = m.json();
        } catch {
          continue;
        }
        const key = `${d.eventId}/${d.identifier}`;
        const trace = out.get(key);
        if (!trace) continue;
        if (d.id) byDelivery.set(d.id, key);
        const attempts = (d.attempts ?? []).map((a) => `${a.outcome}${a.status ? ` ${a.status}` : ''}`);
        trace.records.push(
          `${stream} #${m.seq} at ${new Date(m.time).toISOString()} id ${d.id} msg-id ${m.header?.get('Nats-Msg-Id')} attempt header ${m.header?.get('Hookd-Attempt')} attempts [${attempts.join(', ')}]`,
        );
      }
    }
    // Breaker outcomes name failed deliveries by id.
    for await (const m of storedMessages(jsm, 'HOOKD_OUTCOMES')) {
      let r: { kind: string; deliveryId?: string; replica?: string; at?: number };
      try {
        r = m.json();
      } catch {
        continue;
      }
      const key = r.deliveryId && byDelivery.get(r.deliveryId);
      if (key)
        out
          .get(key)!
          .records.push(
            `HOOKD_OUTCOMES #${m.seq} ${r.kind} by ${r.replica} at ${new Date(r.at ?? 0).toISOString()}`,
          );
    }
    return out;
  });
}
