/**
 * Reads `rules/*.yaml` (each a `webhooks:` list), validates every webhook
 * against the model and its transport's `data` schema, and remembers where
 * each came from so later compile errors can name file, line and column.
 */
import { readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { z } from 'zod';
import {
  describeFsError,
  formatPath,
  type Problem,
  parseYaml,
  readTextFile,
  readTextFileSync,
  type TextFile,
  type YamlSource,
  zodProblems,
} from '../config/index.ts';
import {
  fileWebhookId,
  normalizeWebhook,
  type Webhook,
  WebhookInputSchema,
  WebhookModelError,
} from './webhook-schema.ts';

/**
 * The webhook types a rule may use and how to check their `data`: the
 * transport registry provides it (transports come after rules, so rules name
 * only what they need).
 */
export interface WebhookTypes {
  /** The canonical type for a written type or alias. */
  resolveType(typeName: string): string | undefined;
  /** A message for an unknown type, listing the known ones. */
  unknownTypeMessage(typeName: string): string;
  get(type: string):
    | {
        dataSchema: z.ZodType<unknown>;
        validate?(webhook: Webhook): { path: (string | number)[]; message: string }[];
      }
    | undefined;
}

const RuleFileSchema = z.strictObject({ webhooks: z.array(z.unknown()).default([]) });

/** Where a webhook was defined: its file and the path of its entry there. */
export interface Origin {
  src: YamlSource;
  prefix: (string | number)[];
}

export interface LoadedRules {
  webhooks: Webhook[];
  origins: Map<string, Origin>;
  problems: Problem[];
}

/** A rule file's text, or why it could not be read (a FIFO, a dangling link, not UTF-8...). */
export interface RuleFileText {
  file: string;
  read: TextFile;
}

/** How long the daemon's reload waits for one rule file. */
export const RULE_READ_TIMEOUT_MS = 5_000;
const READ_AT_ONCE = 16;

const isRuleName = (n: string) => /\.ya?ml$/.test(n) && !n.startsWith('.');

/** Chosen by name; what they are (regular file or not) is checked when each is read. */
function ruleNames(names: string[], dir: string): string[] {
  return names
    .filter(isRuleName)
    .sort()
    .map((n) => join(dir, n));
}

function listError(dir: string, err: unknown): RuleFileText[] {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
  return [{ file: dir, read: { ok: false, problem: describeFsError(dir, err) } }];
}

/** Reads every rule file (for `hookd check` and start-up). */
export function readRuleFilesSync(dir: string): RuleFileText[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    return listError(dir, err);
  }
  return ruleNames(names, dir).map((file) => ({ file, read: readTextFileSync(file) }));
}

/** Reads every rule file off the event loop, each with a timeout (the daemon's reload). */
export async function readRuleFiles(dir: string, timeoutMs = RULE_READ_TIMEOUT_MS): Promise<RuleFileText[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    return listError(dir, err);
  }
  // A few at a time: a directory of thousands of files must not run out of file descriptors.
  const files = ruleNames(names, dir);
  const out: RuleFileText[] = [];
  for (let i = 0; i < files.length; i += READ_AT_ONCE) {
    const batch = files.slice(i, i + READ_AT_ONCE);
    out.push(
      ...(await Promise.all(
        batch.map(async (file) => ({ file, read: await readTextFile(file, timeoutMs) })),
      )),
    );
  }
  return out;
}

/** Validates one parsed webhook entry; problems are pushed with their positions. */
export function validateWebhook(
  raw: unknown,
  ctx: {
    src: YamlSource;
    prefix: (string | number)[];
    id: string;
    source: 'file' | 'api';
    file?: string;
    registry: WebhookTypes;
  },
  problems: Problem[],
): Webhook | undefined {
  const { src, prefix, registry } = ctx;
  const parsed = WebhookInputSchema.safeParse(raw);
  if (!parsed.success) {
    problems.push(...zodProblems(src, parsed.error, prefix));
    return undefined;
  }
  let webhook: Webhook;
  try {
    webhook = normalizeWebhook(parsed.data, {
      id: ctx.id,
      source: ctx.source,
      file: ctx.file,
      resolveType: (t) => registry.resolveType(t),
    });
  } catch (err) {
    if (!(err instanceof WebhookModelError)) throw err;
    const path = [...prefix, ...err.path];
    const msg = err.path[0] === 'type' ? registry.unknownTypeMessage(parsed.data.type) : err.message;
    problems.push(src.problem(path, `${formatPath(path)}: ${msg}`));
    return undefined;
  }
  const transport = registry.get(webhook.type)!;
  const data = transport.dataSchema.safeParse(webhook.data);
  if (!data.success) {
    problems.push(...zodProblems(src, data.error, [...prefix, 'data']));
    return undefined;
  }
  webhook.data = data.data as Record<string, unknown>;
  const extra = transport.validate?.(webhook) ?? [];
  for (const p of extra) {
    const path = [...prefix, ...p.path];
    problems.push(src.problem(path, `${formatPath(path)}: ${p.message}`));
  }
  return extra.length ? undefined : webhook;
}

export function loadRuleFiles(
  dir: string,
  registry: WebhookTypes,
  files: readonly RuleFileText[] = readRuleFilesSync(dir),
): LoadedRules {
  const webhooks: Webhook[] = [];
  const origins = new Map<string, Origin>();
  const problems: Problem[] = [];
  for (const { file, read } of files) {
    if (!read.ok) {
      problems.push(read.problem);
      continue;
    }
    const rel = relative(dir, file);
    const src = parseYaml(file, read.text);
    if (src.problems.length) {
      problems.push(...src.problems);
      continue;
    }
    const top = RuleFileSchema.safeParse(src.value ?? {});
    if (!top.success) {
      problems.push(...zodProblems(src, top.error));
      continue;
    }
    const seen = new Map<string, number>();
    top.data.webhooks.forEach((raw, i) => {
      const prefix = ['webhooks', i];
      const identifier = (raw as { identifier?: unknown } | null)?.identifier;
      const key = typeof identifier === 'string' ? identifier : `#${i}`;
      // Stable ids: file + identifier (+ occurrence, since identifiers may repeat).
      const n = seen.get(key) ?? 0;
      seen.set(key, n + 1);
      const explicitId = (raw as { id?: unknown } | null)?.id;
      const id = typeof explicitId === 'string' ? explicitId : fileWebhookId(rel, key, n);
      if (origins.has(id)) {
        problems.push(
          src.problem([...prefix, 'id'], `${formatPath([...prefix, 'id'])}: duplicate webhook id "${id}"`),
        );
        return;
      }
      let w: Webhook | undefined;
      try {
        w = validateWebhook(raw, { src, prefix, id, source: 'file', file: rel, registry }, problems);
      } catch (err) {
        // A transport's own validate (a plugin's code) that throws: a problem at the entry, not a crash.
        const where = formatPath(prefix);
        problems.push(src.problem(prefix, `${where}: cannot be validated: ${(err as Error).message}`));
      }
      if (!w) return;
      webhooks.push(w);
      origins.set(id, { src, prefix });
    });
  }
  return { webhooks, origins, problems };
}
