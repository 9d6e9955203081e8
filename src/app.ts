/**
 * The composition root: the only place where the stages meet. Data flows
 * source → rules → templates → outbox → dispatcher → transports; store,
 * metrics and the HTTP API are side lanes handed in here. Wiring only: what
 * each part does lives in its folder (the catalog in force and its reloads
 * in catalog/live-catalog.ts, transport instances in transports/instances.ts,
 * the jetstream store opened before the App in open-jetstream.ts).
 *
 * Over 300 lines only because the constructor wires every part by name.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import {
  API_BODY_LIMIT,
  Authenticator,
  createServer,
  registerIngest,
  registerManagementApi,
  WebhookService,
} from './api/index.ts';
import { type Catalog, Intake, LiveCatalog, type ReloadResult, watchRules } from './catalog/index.ts';
import type { Config } from './config/index.ts';
import {
  attachCluster,
  type Cluster,
  Dispatcher,
  firstAttemptAt,
  perWebhookConcurrency,
  policyFor,
  WebhookStates,
} from './dispatch/index.ts';
import { createLogger, withTransportRedaction } from './logging.ts';
import { Metrics, setWebhookStateGauge } from './metrics/index.ts';
import { type OpenedJetStream, openJetStream } from './open-jetstream.ts';
import { DELIVERY_STATES, openStore, RetentionLoop, type Store } from './outbox/index.ts';
import type { WebhookState } from './rules/index.ts';
import { Sandbox } from './sandbox/index.ts';
import { KeyRing, specSeal } from './secrets/index.ts';
import { ConsumerLease, NatsSource } from './source/index.ts';
import { TransportInstances, TransportRegistry } from './transports/index.ts';

export interface AppOptions {
  config: Config;
  rulesDir: string;
  /** Transports with plugins already loaded (see `loadTransports`); default: the built-ins. */
  registry?: TransportRegistry;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Watch `rulesDir` and reload on changes (default true). */
  watchRules?: boolean;
  /** hookd cannot go on (e.g. another process holds the NATS consumer): the caller stops it and exits 1. */
  onFatal?: (err: Error) => void;
}

export type { ReloadResult };

let appsInProcess = 0;

/**
 * This replica's name (`hookd_replica_info`, the NATS connection's name):
 * `HOOKD_REPLICA_ID`, else host and pid; a further App in the same process
 * (tests run several) gets `-2`, `-3`, ….
 */
export function replicaId(env: NodeJS.ProcessEnv = process.env): string {
  const n = ++appsInProcess;
  const base = env.HOOKD_REPLICA_ID?.trim() || `${hostname()}-${process.pid}`;
  return n === 1 ? base : `${base}-${n}`;
}

const NO_SECRETS_KEY =
  'security.secretsKey is not set: secrets of API webhooks are stored unencrypted (set HOOKD_SECURITY_SECRETS_KEY to base64 of 32 bytes)';

export class App {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly store: Store;
  /** Deletes finished records past `store.retention`, a small batch at a time (sqlite: in jetstream the streams' max age does). */
  private readonly retention: RetentionLoop | undefined;
  /** `HOOKD_REPLICA_ID`, else host-pid. */
  readonly replica: string;
  /** The jetstream store (undefined with sqlite). */
  private readonly jetstream: OpenedJetStream | undefined;
  private rebuildTimer: NodeJS.Timeout | undefined;
  /**
   * jetstream: breakers fed from the outcome stream, one probe per cooldown,
   * states set through other replicas, rate limits shared (dispatch/cluster.ts).
   */
  private cluster: Cluster | undefined;
  readonly registry: TransportRegistry;
  readonly dispatcher: Dispatcher;
  readonly intake: Intake;
  /** Conditions and JSONata templates run here, in a worker with a budget per evaluation. */
  readonly sandbox: Sandbox;
  readonly server;
  private readonly live: LiveCatalog;
  /** Webhooks created through the API (stored in the outbox database); they join the file webhooks in the catalog. */
  readonly webhooks: WebhookService;
  readonly states: WebhookStates;
  /** The webhook-state gauge is recomputed at scrape time only after a change. */
  private statesDirty = true;
  private readonly transports: TransportInstances;
  private nats: NatsSource | undefined;
  private watcher: { close(): void } | undefined;
  private readonly auth: Authenticator;
  /** `security.secretsKey` and the previous keys: API webhooks' secrets are sealed with them at rest. */
  private readonly keys: KeyRing;
  private stopping: Promise<void> | undefined;

  /**
   * Opens the store of `store.backend` and then the App: with `jetstream`,
   * one NATS connection for the store (its streams, KV views and dispatch
   * queue), current before the App exists. Throws `ConfigError` when the
   * rules are invalid: hookd does not start.
   */
  static async open(opts: AppOptions): Promise<App> {
    const { config } = opts;
    if (config.store.backend === 'sqlite') return new App(opts);
    const registry = opts.registry ?? new TransportRegistry();
    const log = (opts.logger ?? createLogger(config.log.level)).child({ component: 'store' });
    const onError = (err: Error) => log.warn({ err: err.message }, 'jetstream store');
    const box: { app?: App } = {};
    const opened = await openJetStream(config, registry, replicaId(opts.env), log, {
      concurrency: (id) => box.app?.concurrencyOf(id) ?? 1,
      onWork: (id, at) => box.app?.dispatcher.notify(id, at),
      onError,
    });
    try {
      box.app = new App({ ...opts, registry }, opened);
      await box.app.joinCluster(onError);
      return box.app;
    } catch (err) {
      if (box.app) await box.app.stop().catch(() => {});
      else await opened.store.close().catch(() => {});
      throw err;
    }
  }

  /** jetstream: breakers fed from the outcome stream, one probe per cooldown, states and rate limits shared. */
  private async joinCluster(onError: (err: Error) => void): Promise<void> {
    const opened = this.jetstream!;
    this.cluster = await attachCluster({
      nc: opened.store.nc,
      replicas: this.config.store.jetstream.replicas,
      replica: this.replica,
      states: this.states,
      sharedStates: opened.store.webhookStates,
      webhook: (id) => this.live.current.webhook(id),
      wake: () => this.dispatcher.wake(),
      maxCooldownMs: this.config.delivery.breaker.maxCooldownMs,
      onError,
    });
  }

  /** Throws `ConfigError` when the rules are invalid: hookd does not start. Use `App.open` (any backend). */
  constructor(
    private readonly opts: AppOptions,
    opened?: OpenedJetStream,
  ) {
    const { config } = opts;
    if (config.store.backend === 'jetstream' && !opened)
      throw new Error('store.backend: jetstream is opened asynchronously: use App.open');
    this.config = config;
    this.jetstream = opened;
    this.replica = opened?.replica ?? replicaId(opts.env);
    this.registry = opts.registry ?? new TransportRegistry();
    // Redaction follows every transport's declared secret fields, plugins included.
    this.logger = withTransportRedaction(
      opts.logger ?? createLogger(config.log.level),
      this.registry.modules(),
    );
    this.metrics = new Metrics({ perWebhookLabels: config.metrics.perWebhookLabels });
    this.transports = new TransportInstances(this.registry, (type) => ({
      logger: this.logger.child({ transport: type }),
      timeoutMs: config.delivery.timeoutMs,
      security: config.security,
    }));
    this.sandbox = new Sandbox({
      timeoutMs: config.events.evalTimeoutMs,
      maxOutputBytes: config.delivery.maxRequestBytes,
      logger: this.logger.child({ component: 'sandbox' }),
    });
    this.keys = opened?.keys ?? new KeyRing(config.security.secretsKey, config.security.previousSecretsKeys);
    if (!this.keys.sealing) this.logger.warn(NO_SECRETS_KEY);
    const seal = opened?.seal ?? specSeal(this.keys, this.registry);
    this.store = opened?.store ?? openStore(config.store.path, { seal, attemptLog: config.store.attemptLog });
    this.retention = opened
      ? undefined
      : new RetentionLoop({
          store: this.store,
          retention: config.store.retention,
          logger: this.logger.child({ component: 'store' }),
        });
    this.webhooks = new WebhookService({
      store: this.store.webhooks,
      registry: this.registry,
      logger: this.logger.child({ component: 'api' }),
      catalog: () => this.live.current,
      build: (api) => this.live.build(api),
      install: (catalog) => this.live.install(catalog),
      forgetState: (id) => this.states.forget(id),
    });
    try {
      this.webhooks.load();
      // Secrets stored before the key was set, or under a previous key, are sealed under the current one now.
      const resealed = this.webhooks.rewrite(seal.stale);
      if (resealed)
        this.logger.info(
          { webhooks: resealed },
          'API webhook secrets re-encrypted under security.secretsKey',
        );
      this.live = new LiveCatalog({
        config,
        rulesDir: opts.rulesDir,
        registry: this.registry,
        sandbox: this.sandbox,
        metrics: this.metrics,
        logger: this.logger,
        apiWebhooks: () => this.webhooks.list(),
        onChange: (_catalog, reloaded) => {
          this.statesDirty = true;
          // A reload (SIGHUP) also picks up deliveries requeued by `hookd retry` from another process.
          if (reloaded) this.dispatcher.rescan();
          else this.dispatcher.wake();
        },
      });
    } catch (err) {
      void this.store.close();
      throw err;
    }
    this.metrics.replicaInfo.set({ replica: this.replica, backend: config.store.backend }, 1);
    this.metrics.onScrape(() => {
      this.metrics.consumerLeaseHeld.set(this.nats?.leaseHeld ? 1 : 0);
      const depth = this.store.deliveries.depth();
      for (const s of DELIVERY_STATES) this.metrics.queueDepth.set({ state: s }, depth[s]);
      this.metrics.storeBytes.set(this.store.bytes());
      if (this.statesDirty) {
        this.statesDirty = false;
        setWebhookStateGauge(this.metrics, this.live.current.rules.webhooks, (w) => this.states.stateOf(w));
      }
    });

    const stateLog = this.logger.child({ component: 'state' });
    this.states = new WebhookStates({
      store: this.store.webhookStates,
      settings: config.delivery.breaker,
      onChange: (c) => {
        this.statesDirty = true;
        stateLog.warn(
          { webhook: c.identifier, webhookId: c.webhookId, from: c.from, to: c.to, reason: c.reason },
          'webhook state changed',
        );
        // Resumed: its held deliveries drain, oldest first.
        if (c.to === 'Active') this.dispatcher.rescanWebhook(c.webhookId);
      },
      onBreaker: (w, t) => {
        this.metrics.breakerTransitions.inc({ webhook: this.metrics.webhookLabel(w.identifier), to: t.to });
        stateLog.info(
          { webhook: w.identifier, webhookId: w.id, from: t.from, to: t.to, reason: t.reason },
          'circuit breaker',
        );
        // Be back for the probe when the cooldown ends, even if nothing is due by then.
        if (t.reopensAt !== undefined) this.dispatcher.notify(w.id, t.reopensAt);
      },
    });

    this.dispatcher = new Dispatcher({
      work: this.store.deliveries,
      outbox: this.store.deliveries,
      webhook: (id) => this.live.current.webhook(id),
      transport: (type) => this.transports.get(type),
      settings: config.delivery,
      metrics: this.metrics,
      logger: this.logger.child({ component: 'dispatch' }),
      admission: this.states,
      // jetstream: each webhook's rate limit is shared by the live replicas.
      rateLimitReplicas: () => this.cluster?.replicas() ?? 1,
      // The policy decided what the attempt does to its webhook; apply it (jetstream: through the outcome stream).
      onAttempt: (w, decision, result, deliveryId) => {
        if (this.cluster) return this.cluster.onAttempt(w, decision, result, deliveryId);
        const { webhook: effect } = decision;
        const now = Date.now();
        if (effect.kind === 'stop') this.states.setState(w, 'Stopped', effect.reason, now);
        else this.states.record(w, effect.ok, now);
      },
    });
    this.intake = new Intake({
      catalog: () => this.live.current,
      deliveries: this.store.deliveries,
      metrics: this.metrics,
      logger: this.logger.child({ component: 'intake' }),
      firstAttemptAt: (w, receivedAt) => firstAttemptAt(policyFor(w, config.delivery), receivedAt),
      maxRequestBytes: config.delivery.maxRequestBytes,
      // sqlite: sent from memory, not read back from the store; jetstream: its queue consumer hands them out.
      onStored: (deliveries, allNew) => this.dispatcher.stored(deliveries, allNew && !opened),
      room: () => this.dispatcher.room(),
    });

    this.auth = new Authenticator(config.api.tokens, opts.env ?? process.env);
    this.server = createServer({
      logger: this.logger,
      auth: this.auth,
      bodyLimit: API_BODY_LIMIT,
      ready: () => this.readiness(),
      advisories: (): Record<string, string> => (this.keys.sealing ? {} : { secretsKey: NO_SECRETS_KEY }),
      metrics: (format) => this.metrics.text(format),
    });
    registerIngest(this.server, {
      auth: this.auth,
      maxBytes: config.events.maxBytes,
      maxDepth: config.events.maxDepth,
      accept: (events, rejections) => this.intake.accept(events, rejections),
      onReceived: (n) => this.metrics.eventsReceived.inc({ source: 'http' }, n),
      onRejected: (reason) => this.metrics.eventsRejected.inc({ reason }),
    });
    registerManagementApi(this.server, {
      auth: this.auth,
      service: this.webhooks,
      registry: this.registry,
      catalog: () => this.live.current,
      deliveries: this.store.deliveries,
      attempts: this.store.attempts,
      stateOf: (w) => this.states.stateOf(w),
      setState: (id, state, reason) => this.setWebhookState(id, state, reason),
      rescan: () => this.dispatcher.rescan(),
      transport: (type) => this.transports.get(type),
      timeoutMs: config.delivery.timeoutMs,
      secretOverlapMs: config.delivery.secretOverlap,
      logger: this.logger.child({ component: 'api' }),
    });
    if (opened) {
      // Every replica follows the buckets: a webhook or a state set through another is in force here.
      opened.store.webhooks.onRemoteChange(() => this.rebuildSoon());
    }
  }

  /** A webhook's concurrency (its own, else `delivery.perWebhookConcurrency`'s default): its queue's cluster-wide limit. */
  concurrencyOf(webhookId: string): number {
    const d = this.config.delivery;
    return Math.min(
      d.concurrency,
      this.live.current.webhook(webhookId)?.concurrency ?? perWebhookConcurrency(d),
    );
  }

  /**
   * Another replica created, replaced or deleted API webhooks: the catalog
   * is rebuilt from the bucket's view once the burst is in (a few ms; the
   * contract allows 1 s).
   */
  private rebuildSoon(): void {
    if (this.rebuildTimer || this.stopping) return;
    this.rebuildTimer = setTimeout(() => {
      this.rebuildTimer = undefined;
      if (this.stopping) return;
      try {
        this.webhooks.load();
        this.live.install(this.live.build(this.webhooks.list()));
      } catch (err) {
        this.logger.error(
          { err: (err as Error).message },
          'API webhooks changed through another replica could not be compiled here; the catalog in force stays',
        );
      }
    }, 20);
  }

  /**
   * Sets a webhook's state by hand (API): `Stopped` holds its deliveries,
   * `TooManyErrors` opens its breaker, `Active` resumes it and drains what
   * was held. Returns undefined when the webhook does not exist.
   */
  setWebhookState(id: string, state: WebhookState, reason: string): { changed: boolean } | undefined {
    const w = this.live.current.webhook(id);
    if (!w) return undefined;
    return { changed: this.states.setState(w, state, reason, Date.now()) };
  }

  get catalog(): Catalog {
    return this.live.current;
  }

  /** Validates everything, then swaps the catalog at once; an invalid change keeps the old rules. */
  reload(reason: string): Promise<ReloadResult> {
    return this.live.reload(reason);
  }

  private readiness(): Record<string, boolean> {
    const checks: Record<string, boolean> = {};
    checks.store = this.store.probe();
    if (this.config.nats.url) checks.nats = this.nats?.connected ?? false;
    return checks;
  }

  /** Starts serving: HTTP, the dispatcher, NATS (in the background), the rules watcher. */
  async start(): Promise<{ port: number }> {
    const { config } = this;
    await this.server.listen({ host: config.http.host, port: config.http.port });
    const port = (this.server.server.address() as { port: number }).port;
    this.dispatcher.start();
    this.retention?.start();
    if (config.nats.url) {
      this.nats = new NatsSource({
        settings: { ...config.nats, url: config.nats.url },
        maxBytes: config.events.maxBytes,
        maxDepth: config.events.maxDepth,
        logger: this.logger.child({ component: 'nats' }),
        accept: (events, rejections) => this.intake.accept(events, rejections),
        onReceived: (n) => this.metrics.eventsReceived.inc({ source: 'nats' }, n),
        onRejected: (reason) => this.metrics.eventsRejected.inc({ reason }),
        onPending: (n) => this.metrics.natsPending.set(n),
        // jetstream: no lease, every replica shares the consumer (each delivery is stored for all of them).
        lease: this.jetstream
          ? undefined
          : new ConsumerLease({
              stream: config.nats.stream,
              consumer: config.nats.consumer,
              storePath: config.store.path,
              ttlMs: config.nats.leaseMs,
            }),
        onFatal: (err) => {
          this.logger.fatal(
            { err: err.message, code: (err as { code?: string }).code },
            'NATS source stopped',
          );
          this.opts.onFatal?.(err);
        },
      });
      this.nats.start();
    }
    if (this.opts.watchRules ?? true) {
      this.watcher = watchRules(this.opts.rulesDir, () => void this.reload('rules changed'), this.logger);
    }
    this.logger.info(
      {
        http: `${config.http.host}:${port}`,
        nats: config.nats.url ?? null,
        store: this.jetstream ? 'jetstream' : config.store.path,
        replica: this.replica,
        webhooks: this.live.current.size,
      },
      'hookd started',
    );
    return { port };
  }

  /**
   * Stops taking events, finishes or releases in-flight attempts within
   * `delivery.shutdownTimeoutMs`, and closes everything.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info('hookd stopping');
      this.watcher?.close();
      await this.nats?.stop();
      await this.server.close();
      await this.sandbox.close();
      await this.dispatcher.stop(this.config.delivery.shutdownTimeoutMs);
      // Outcomes of the last attempts reach the other replicas' breakers; this one leaves the count.
      await this.cluster
        ?.close()
        .catch((err: Error) => this.logger.warn({ err: err.message }, 'cluster close'));
      clearTimeout(this.rebuildTimer);
      await this.retention?.stop();
      await this.transports.closeAll();
      await this.store.close();
      this.logger.info('hookd stopped');
    })();
    return this.stopping;
  }
}
