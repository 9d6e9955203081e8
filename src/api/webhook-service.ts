/**
 * API webhooks: create, replace and delete webhooks at run time. Every
 * change is validated exactly like a rule file entry (`validateWebhook`),
 * compiled together with the file webhooks into a new catalog, stored, and
 * only then swapped in, so an event is never evaluated against a
 * half-updated set and a change that does not compile changes nothing.
 * File webhooks are read-only here (409).
 *
 * One concept over 300 lines: the lifecycle of an API webhook (validate,
 * compile with the rest, store, swap in), each write path beside the others.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  type Catalog,
  CatalogError,
  type LoadedApiWebhook,
  readApiWebhooks,
  validateApiWebhook,
} from '../catalog/index.ts';
import type { Problem } from '../config/index.ts';
import type { ApiWebhookStore, StoredWebhook } from '../outbox/index.ts';
import { generateSigningSecret, type Webhook, WebhookIdSchema } from '../rules/index.ts';
import type { TransportRegistry } from '../transports/index.ts';
import { bodyProblems, type PathMapper, type PathProblem } from './body-problems.ts';
import { ApiError, invalidBody, notFound } from './errors.ts';
import { restoreSecrets } from './redact.ts';

export interface WebhookServiceDeps {
  store: ApiWebhookStore;
  registry: TransportRegistry;
  logger: Logger;
  /** The catalog in force. */
  catalog: () => Catalog;
  /** Compiles the current file webhooks together with `api`; throws `CatalogError`. */
  build: (api: readonly Webhook[]) => Catalog;
  /** Swaps a built catalog in. */
  install: (catalog: Catalog) => void;
  /** Drops a deleted webhook's run-time state (breaker, Stopped), so a later webhook with its id starts afresh. */
  forgetState?: (id: string) => void;
  now?: () => number;
}

/** An API webhook: validated, and as stored. */
export type ApiWebhook = LoadedApiWebhook;

/** Fields hookd sets; given in a body (e.g. a response sent back) they are ignored. */
const READ_ONLY = [
  'source',
  'file',
  'transport',
  'createdBy',
  'createdAt',
  'updatedBy',
  'updatedAt',
  'version',
  'publicKey',
  // Kept by hookd across replaces (rotation, DESIGN.md section 4).
  'previousSecrets',
];

type Obj = Record<string, unknown>;

export interface WriteOptions {
  /** Renames model paths into the caller's field names in 400 answers. */
  rename?: PathMapper;
}

export class WebhookService {
  private readonly api = new Map<string, ApiWebhook>();
  private readonly now: () => number;

  constructor(private readonly deps: WebhookServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Reads the stored webhooks. One that no longer validates (a plugin type
   * gone, a transport schema changed) is logged and left out of the
   * catalog, but kept in the store.
   */
  load(): void {
    this.api.clear();
    const { loaded, skipped } = readApiWebhooks(this.deps.store.all(), this.deps.registry);
    for (const s of skipped) this.deps.logger.error({ webhookId: s.id, errors: s.errors }, s.message);
    for (const e of loaded) this.api.set(e.stored.id, e);
  }

  /**
   * Writes loaded webhooks back unchanged (same spec, same `updatedAt`): the
   * store seals their secrets under the current key. Returns how many.
   */
  rewrite(ids: Iterable<string>): number {
    let n = 0;
    for (const id of ids) {
      const e = this.api.get(id);
      if (e && this.deps.store.update(id, e.stored.spec, e.stored.updatedAt)) n++;
    }
    return n;
  }

  /** The API webhooks, for the catalog. */
  list(): Webhook[] {
    return [...this.api.values()].map((e) => e.webhook);
  }

  /** A stored API webhook (as written) by id. */
  stored(id: string): StoredWebhook | undefined {
    return this.api.get(id)?.stored;
  }

  /** An API webhook by its integer alias (seeds 000 and 001). */
  byNumber(n: number): ApiWebhook | undefined {
    for (const e of this.api.values()) if (e.stored.number === n) return e;
    return undefined;
  }

  private validate(id: string, spec: Obj, problems: Problem[]): Webhook | undefined {
    return validateApiWebhook(id, spec, this.deps.registry, problems);
  }

  /** Validates and compiles a new set; throws a 400 naming the fields of `id` at fault. */
  private prepare(
    id: string,
    spec: Obj,
    others: readonly Webhook[],
    opts: WriteOptions,
  ): {
    webhook: Webhook;
    catalog: Catalog;
  } {
    const problems: Problem[] = [];
    const webhook = this.validate(id, spec, problems);
    if (!webhook) throw invalidBody(bodyProblems(problems, opts.rename));
    try {
      return { webhook, catalog: this.deps.build([...others, webhook]) };
    } catch (err) {
      if (!(err instanceof CatalogError)) throw err;
      const located: PathProblem[] = err.problems.map((p) => ({
        file: 'body',
        line: 1,
        col: 1,
        path: p.webhookId === id ? p.path : [],
        message: p.webhookId === id ? p.message : `webhook ${p.webhookId}: ${p.message}`,
      }));
      throw invalidBody(bodyProblems(located, opts.rename));
    }
  }

  private others(id: string): Webhook[] {
    return this.list().filter((w) => w.id !== id);
  }

  /** Creates an API webhook from a body in the model's field names. */
  create(body: unknown, by: string, opts: WriteOptions = {}): ApiWebhook {
    const input = writable(body, opts);
    let id: string;
    if (input.id === undefined) id = randomUUID();
    else {
      // Checked before anything else (nothing is stored with an id that cannot be a URL segment or a header).
      const given = WebhookIdSchema.safeParse(input.id);
      if (!given.success) {
        const message = given.error.issues[0]?.message ?? 'invalid id';
        throw invalidBody(bodyProblems([bodyProblem(['id'], message)], opts.rename));
      }
      id = given.data;
    }
    delete input.id;
    if (this.deps.catalog().webhook(id) || this.deps.store.get(id)) {
      throw new ApiError(409, 'conflict', `a webhook with id "${id}" exists already`);
    }
    const at = new Date(this.now()).toISOString();
    const spec: Obj = {
      ...input,
      createdBy: by,
      createdAt: at,
      updatedBy: by,
      updatedAt: at,
      version: { versionNo: 1 },
    };
    const { webhook, catalog } = this.prepare(id, spec, this.list(), opts);
    // A duplicate id is the store's DuplicateWebhookError, answered 409 by apiErrorOf.
    const stored = this.deps.store.insert(id, spec, this.now());
    this.api.set(id, { webhook, stored });
    this.deps.install(catalog);
    this.deps.logger.info({ webhookId: id, identifier: webhook.identifier, by }, 'webhook created');
    return { webhook, stored };
  }

  /** The API webhook `id`, or 404 (unknown) / 409 (defined in a rule file). */
  writableEntry(id: string): ApiWebhook {
    const e = this.api.get(id);
    if (e) return e;
    const w = this.deps.catalog().webhook(id);
    if (w?.source === 'file') {
      throw new ApiError(
        409,
        'conflict',
        `webhook "${id}" is defined in the rule file ${w.file ?? '(unknown)'}; change it there`,
      );
    }
    throw notFound('webhook', id);
  }

  /**
   * Replaces an API webhook. Placeholders of write-only secrets (`{"set": true}`,
   * a secret header without value) keep the stored values.
   */
  replace(id: string, body: unknown, by: string, opts: WriteOptions = {}): ApiWebhook {
    const current = this.writableEntry(id);
    const input = writable(body, opts);
    if (input.id !== undefined && input.id !== id) {
      throw invalidBody(
        bodyProblems([bodyProblem(['id'], `does not match the webhook "${id}"`)], opts.rename),
      );
    }
    delete input.id;
    const old = current.stored.spec;
    const restored = restoreSecrets(input, old, this.deps.registry);
    // A new secret given here replaces the old one at once (rotate for an overlap); the same secret keeps its rotation.
    if (restored.secret === old.secret && old.previousSecrets !== undefined) {
      restored.previousSecrets = old.previousSecrets;
    }
    const { webhook, stored } = this.commit(current, { ...restored, ...this.audit(old, by) }, opts);
    this.deps.logger.info(
      { webhookId: id, identifier: webhook.identifier, by, versionNo: webhook.versionNo },
      'webhook replaced',
    );
    return { webhook, stored };
  }

  /**
   * Makes `secret` (or a generated one of the same kind) the signing secret
   * of an API webhook; the secret it replaces keeps signing too until
   * `overlapMs` from now, as do earlier ones still in their overlap.
   */
  rotateSecret(
    id: string,
    secret: string | undefined,
    by: string,
    overlapMs: number,
  ): ApiWebhook & { generated?: string } {
    const current = this.writableEntry(id);
    const old = current.stored.spec;
    const now = this.now();
    const oldSecret = typeof old.secret === 'string' ? old.secret : undefined;
    const generated = secret === undefined ? generateSigningSecret(oldSecret) : undefined;
    const next = secret ?? generated!;
    const kept = ((old.previousSecrets ?? []) as { secret: string; until: string }[]).filter(
      (p) => Date.parse(p.until) > now && p.secret !== next,
    );
    if (oldSecret !== undefined && oldSecret !== next && overlapMs > 0) {
      kept.push({ secret: oldSecret, until: new Date(now + overlapMs).toISOString() });
    }
    const spec: Obj = { ...old, secret: next, previousSecrets: kept, ...this.audit(old, by) };
    if (kept.length === 0) delete spec.previousSecrets;
    const entry = this.commit(current, spec, {});
    this.deps.logger.info(
      { webhookId: id, by, overlapUntil: kept.at(-1)?.until, generated: generated !== undefined },
      'webhook secret rotated',
    );
    return { ...entry, generated };
  }

  /** The audit fields of a change by `by` to the stored spec `old`. */
  private audit(old: Obj, by: string): Obj {
    const versionNo = Number((old.version as { versionNo?: unknown } | undefined)?.versionNo ?? 1);
    return {
      createdBy: old.createdBy,
      createdAt: old.createdAt,
      updatedBy: by,
      updatedAt: new Date(this.now()).toISOString(),
      version: { versionNo: (Number.isFinite(versionNo) ? versionNo : 1) + 1 },
    };
  }

  /** Validates, stores and swaps in a changed API webhook. */
  private commit(current: ApiWebhook, spec: Obj, opts: WriteOptions): ApiWebhook {
    const id = current.stored.id;
    const { webhook, catalog } = this.prepare(id, spec, this.others(id), opts);
    const now = this.now();
    this.deps.store.update(id, spec, now);
    const stored: StoredWebhook = { ...current.stored, spec, updatedAt: now };
    this.api.set(id, { webhook, stored });
    this.deps.install(catalog);
    return { webhook, stored };
  }

  /** Deletes an API webhook; its stored deliveries fail as "the webhook was removed". */
  remove(id: string, by: string): void {
    const current = this.writableEntry(id);
    const catalog = this.deps.build(this.others(id));
    this.deps.store.delete(id);
    this.api.delete(id);
    this.deps.install(catalog);
    this.deps.forgetState?.(id);
    this.deps.logger.info({ webhookId: id, identifier: current.webhook.identifier, by }, 'webhook deleted');
  }
}

function bodyProblem(path: PropertyKey[], message: string): PathProblem {
  return { file: 'body', line: 1, col: 1, path, message };
}

/** A body as an object without the read-only fields; 400 when it is not an object. */
function writable(body: unknown, opts: WriteOptions): Obj {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidBody(bodyProblems([bodyProblem([], 'expected a JSON object')], opts.rename));
  }
  const out: Obj = { ...(body as Obj) };
  for (const k of READ_ONLY) delete out[k];
  return out;
}
