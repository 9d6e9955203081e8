/**
 * `hookd explain --event FILE [--subject S] [--json] [--config FILE]
 * [--rules DIR] [--at TIME]`: for one event (or a JSON array of events),
 * every webhook with whether it matched and the first reason it did not,
 * then the winners in dispatch order with the request each would get,
 * secrets redacted. Nothing is sent and no metric is counted.
 *
 * Exit 0 when it could explain (matched or not), 1 for invalid config,
 * rules or event, 2 for bad usage.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openCatalog } from '../catalog/index.ts';
import type { Config } from '../config/index.ts';
import { ConfigError, formatProblem, loadConfig } from '../config/index.ts';
import { StoreError } from '../outbox/index.ts';
import { decodeEvent, type HookEvent } from '../source/index.ts';
import { type ExplainContext, type Report, report } from './explain-report.ts';
import { formatText } from './explain-text.ts';
import type { Output } from './output.ts';

export { REDACTED, type Report } from './explain-report.ts';

const USAGE = `usage: hookd explain --event FILE [--subject S] [--json] [--config FILE] [--rules DIR] [--at TIME]

  --event FILE    the event as JSON (one object, or an array of them)
  --subject S     the NATS subject it arrives on (default: http, as over HTTP ingest)
  --json          machine-readable output
  --config FILE   default: config/hookd.yaml when it exists, else the built-in defaults
  --rules DIR     default: rules
  --at TIME       check activeFrom/activeUntil at this time (ISO 8601) instead of now`;

const DEFAULT_CONFIG = 'config/hookd.yaml';

class UsageError extends Error {}

export async function runExplain(argv: string[], out: Output): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (err) {
    out.stderr(`hookd explain: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    out.stdout(USAGE);
    return 0;
  }
  try {
    return await explain(args, out);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) out.stderr(formatProblem(p));
      return 1;
    }
    if (err instanceof UsageError || err instanceof StoreError) {
      out.stderr(`hookd explain: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      event: { type: 'string' },
      subject: { type: 'string', default: 'http' },
      json: { type: 'boolean', default: false },
      config: { type: 'string' },
      rules: { type: 'string', default: 'rules' },
      at: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (!values.help && values.event === undefined) throw new Error('--event FILE is required');
  if (values.at !== undefined && Number.isNaN(Date.parse(values.at))) {
    throw new Error(`--at: "${values.at}" is not a date or date-time`);
  }
  return { ...values, subject: values.subject!, rules: values.rules!, json: values.json! };
}

async function explain(args: ReturnType<typeof parse>, out: Output): Promise<number> {
  const configFile = args.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  const config = loadConfig(configFile);
  // The catalog `hookd run` would compile: rule files, API webhooks of the store, plugins.
  const opened = await openCatalog({ config, rulesDir: args.rules, apiWebhooks: true });
  for (const s of opened.skipped)
    out.stderr(`hookd explain: webhook ${s.id}: ${s.message}: ${s.errors.join('; ')}`);
  const events = readEvents(args.event!, args.subject, config);
  const at = args.at === undefined ? Date.now() : Date.parse(args.at);
  const ctx: ExplainContext = { registry: opened.registry, origins: opened.origins, catalog: opened.catalog };
  const reports: Report[] = [];
  for (const e of events) reports.push(await report(e, opened.catalog.rules.explain(e, at), ctx));
  if (args.json) out.stdout(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2));
  else out.stdout(reports.map((r) => formatText(r, opened.catalog.size)).join('\n\n'));
  return 0;
}

function readEvents(file: string, subject: string, config: Config): HookEvent[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --event ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file}: not JSON: ${(err as Error).message}`);
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  return items.map((item, i) => {
    const d = decodeEvent({
      payload: JSON.stringify(item),
      subject,
      maxBytes: config.events.maxBytes,
      receivedAt: Date.now(),
      fallbackId: Array.isArray(parsed) ? `${file}#${i}` : file,
    });
    if (!d.ok)
      throw new UsageError(
        `${file}${Array.isArray(parsed) ? `[${i}]` : ''}: rejected (${d.reason}): ${d.detail}`,
      );
    return d.event;
  });
}
