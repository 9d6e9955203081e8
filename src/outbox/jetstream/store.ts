/**
 * `store.backend: jetstream` (DESIGN.md section 8): the `Store` every
 * replica opens on the same NATS. Nothing here is a replica's own: the
 * dispatch side (intake's publishes, the work the dispatcher takes, attempt
 * results) is the `JetStreamDispatchQueue` handed in, the shared state
 * (API webhooks, webhook states) the KV views of `openSharedState`, and
 * every read is answered from the streams (delivery-reads.ts), so every
 * replica answers the same.
 *
 * - deliveries: deliveries.ts (requeues of dead letters there too).
 * - `depth()` and `bytes()` are read synchronously from stream info that a
 *   timer refreshes (every `refreshMs`, and on `recount`).
 * - `prune()` deletes nothing: retention is the streams' max age, applied at
 *   open (streams.ts) and enforced by the server; it answers zeros.
 */
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { natsServers, notReadyYet } from '../../source/index.ts';
import type {
  AttemptLog,
  Pruned,
  RejectedEvent,
  RejectedEvents,
  Retention,
  SpecSeal,
  Store,
} from '../contract.ts';
import { StoreError } from '../errors.ts';
import { SubjectReader } from './browse.ts';
import { type DispatchSide, JetStreamDeliveries } from './deliveries.ts';
import { DeliveryReads } from './delivery-reads.ts';
import { openSharedState, type SharedState } from './index.ts';
import {
  DEAD_LETTERS_STREAM,
  DELIVERIES_STREAM,
  REJECTED_STREAM,
  RETRIES_STREAM,
  type RejectedRecord,
  SUCCEEDED_STREAM,
  subjects,
} from './records.ts';
import { ensureStreams } from './streams.ts';

export type { DispatchSide };

export interface JetStreamStoreOptions {
  /** `store.jetstream.replicas`: of the streams and buckets hookd creates. */
  replicas: number;
  /** `store.retention`: the finished records' streams get these max ages. */
  retention: Retention;
  seal?: SpecSeal;
  /**
   * Opens the dispatch side on the store's connection. Absent: the store is
   * opened for reads and requeues only (`hookd retry`, `hookd explain`), and
   * intake or dispatch calls fail with a `StoreError` saying so.
   */
  dispatch?: (nc: NatsConnection) => Promise<DispatchSide>;
  /** Failed background work (KV writes, refreshes). */
  onError?: (err: Error) => void;
  /** How often depth and bytes are read from the streams (default 5 s). */
  refreshMs?: number;
}

/** Every stream hookd keeps: its own, and the KV buckets' (`KV_HOOKD_…`). */
const isHookdStream = (name: string) => name.startsWith('HOOKD_') || name.startsWith('KV_HOOKD_');

export class JetStreamStore implements Store {
  readonly deliveries: JetStreamDeliveries;
  readonly attempts: AttemptLog;
  readonly rejected: RejectedEvents;
  private storeBytes = 0;
  private reachable = false;
  /** False from a disconnect until the client reconnected. */
  private connected = true;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private closed = false;
  /** The connection `connect` opened (closed with the store); a connection handed to `open` is the caller's. */
  private owned = false;

  private constructor(
    readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly shared: SharedState,
    private readonly dispatch: DispatchSide | undefined,
    reads: DeliveryReads,
    private readonly opts: JetStreamStoreOptions,
  ) {
    this.deliveries = new JetStreamDeliveries(nc, jsm, reads, dispatch, () => void this.refresh());
    this.attempts = { of: (id) => reads.attemptsOf(id) };
    this.rejected = { list: (limit = 100) => this.listRejected(limit) };
  }

  get webhooks() {
    return this.shared.webhooks;
  }
  get webhookStates() {
    return this.shared.webhookStates;
  }

  /** Creates or updates the streams, opens the shared state and the dispatch side; resolves once all are current. */
  /**
   * Connects to `url` (`nats.url`: one server, or a cluster's members joined
   * with commas) and opens the store on that connection, which the store
   * then owns. `waitForServer`: keep trying to connect, then wait until
   * JetStream answers (the daemon), instead of failing at once (the one-shot
   * commands).
   */
  static async connect(
    url: string,
    opts: JetStreamStoreOptions & {
      name: string;
      waitForServer?: boolean;
      /** Gives up waiting for JetStream (the connection is closed). */
      signal?: AbortSignal;
    },
  ): Promise<JetStreamStore> {
    const nc = await connect({
      servers: natsServers(url),
      name: opts.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      waitOnFirstConnect: opts.waitForServer ?? false,
    }).catch((err: Error) => {
      throw new StoreError(`cannot reach NATS at ${url} (store.backend: jetstream): ${err.message}`, {
        cause: err,
      });
    });
    try {
      if (opts.waitForServer) await waitForJetStream(nc, opts.onError, opts.signal);
      const store = await JetStreamStore.open(nc, opts);
      store.owned = true;
      return store;
    } catch (err) {
      await nc.close().catch(() => {});
      throw err;
    }
  }

  static async open(nc: NatsConnection, opts: JetStreamStoreOptions): Promise<JetStreamStore> {
    await ensureStreams(nc, { replicas: opts.replicas, retention: opts.retention, onWait: opts.onError });
    const shared = await openSharedState(nc, {
      replicas: opts.replicas,
      seal: opts.seal,
      onError: opts.onError,
    });
    let dispatch: DispatchSide | undefined;
    try {
      dispatch = await opts.dispatch?.(nc);
    } catch (err) {
      await shared.close();
      throw err;
    }
    const store = new JetStreamStore(
      nc,
      await jetstreamManager(nc),
      shared,
      dispatch,
      await DeliveryReads.open(nc),
      opts,
    );
    await store.refresh();
    store.timer = setInterval(() => void store.refresh(), opts.refreshMs ?? 5000);
    store.timer.unref();
    void store.watchConnection();
    return store;
  }

  private async watchConnection(): Promise<void> {
    for await (const st of this.nc.status()) {
      if (st.type === 'disconnect') this.connected = false;
      else if (st.type === 'reconnect') {
        this.connected = true;
        void this.refresh();
      }
    }
  }

  /** Reads the queue depth and the bytes of hookd's streams (one refresh at a time). */
  refresh(): Promise<void> {
    this.refreshing ??= this.readStreams().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async readStreams(): Promise<void> {
    try {
      const msgs = async (name: string) => (await this.jsm.streams.info(name)).state.messages;
      const [d, r, s, f] = await Promise.all(
        [DELIVERIES_STREAM, RETRIES_STREAM, SUCCEEDED_STREAM, DEAD_LETTERS_STREAM].map(msgs),
      );
      this.deliveries.counts = { pending: d! + r!, succeeded: s!, failed: f! };
      let bytes = 0;
      for await (const si of this.jsm.streams.list())
        if (isHookdStream(si.config.name)) bytes += si.state.bytes;
      this.storeBytes = bytes;
      this.reachable = true;
    } catch (err) {
      this.reachable = false;
      if (!this.closed)
        this.opts.onError?.(
          new StoreError(`reading hookd's streams failed: ${(err as Error).message}`, { cause: err }),
        );
    }
  }

  /** Readiness: connected to NATS, and the streams answered the last refresh. */
  probe(): boolean {
    return !this.nc.isClosed() && this.connected && this.reachable;
  }

  bytes(): number {
    return this.storeBytes;
  }

  /** Nothing to do on a replica: the server deletes records past their stream's max age (`store.retention`). */
  async prune(_retention: Retention, _now: number, _budget: number): Promise<Pruned> {
    return { deliveries: 0, attempts: 0, rejected: 0 };
  }

  private async listRejected(limit: number): Promise<RejectedEvent[]> {
    const found = await new SubjectReader(this.jsm, REJECTED_STREAM, subjects.rejected).newest(
      Number.MAX_SAFE_INTEGER,
      limit,
    );
    return found.flatMap((m) => {
      try {
        const r = m.json<RejectedRecord>();
        return [
          {
            id: m.seq,
            received_at: r.receivedAt,
            source: r.source,
            subject: r.subject,
            reason: r.reason,
            detail: r.detail,
            payload: r.payload === null ? null : new Uint8Array(Buffer.from(r.payload, 'base64')),
          },
        ];
      } catch {
        return [];
      }
    });
  }

  /** Closes the dispatch side and the views; the connection belongs to whoever opened it. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.dispatch?.close();
    await this.shared.flush().catch((err: Error) => this.opts.onError?.(err));
    await this.shared.close();
    await this.refreshing;
    if (this.owned) await this.nc.drain().catch(() => this.nc.close());
  }
}

/**
 * The daemon waits for JetStream itself, not only for a connection: a
 * cluster that has just started (or lost its meta leader) answers no
 * JetStream request for a while, and hookd would otherwise exit at start.
 */
async function waitForJetStream(
  nc: NatsConnection,
  onWait?: (err: Error) => void,
  signal?: AbortSignal,
): Promise<void> {
  for (let delayMs = 250; ; delayMs = Math.min(delayMs * 2, 5000)) {
    signal?.throwIfAborted();
    try {
      await jetstreamManager(nc);
      return;
    } catch (err) {
      if (!notReadyYet(err) || nc.isClosed()) throw err;
      onWait?.(
        new StoreError(`JetStream does not answer yet (${(err as Error).message}); waiting`, { cause: err }),
      );
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}
