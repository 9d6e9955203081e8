/**
 * Compiles the templates of every webhook loaded from rule files, turning
 * each `TemplateCompileError` into a `file:line:col` problem through the
 * webhook's origin (the YAML node at the failing field).
 */
import { formatPath, type Problem } from '../config/index.ts';
import type { LoadedRules, Webhook } from '../rules/index.ts';
import { type FieldPath, TemplateCompileError } from './errors.ts';
import { type CompileOptions, compileWebhookTemplates, type WebhookTemplates } from './render.ts';

export interface RuleTemplateOptions extends Omit<CompileOptions, 'templateFields'> {
  /** The transport's `templateFields` for a webhook type (`registry.get(type)?.templateFields`). */
  templateFieldsOf?: (type: string) => readonly string[] | undefined;
}

export interface CompiledRuleTemplates {
  /** By webhook id; webhooks with a problem are missing. */
  templates: Map<string, WebhookTemplates>;
  problems: Problem[];
}

export function compileRuleTemplates(
  loaded: Pick<LoadedRules, 'webhooks' | 'origins'>,
  opts: RuleTemplateOptions = {},
): CompiledRuleTemplates {
  const templates = new Map<string, WebhookTemplates>();
  const problems: Problem[] = [];
  for (const webhook of loaded.webhooks) {
    try {
      templates.set(
        webhook.id,
        compileWebhookTemplates(webhook, { ...opts, templateFields: opts.templateFieldsOf?.(webhook.type) }),
      );
    } catch (err) {
      if (!(err instanceof TemplateCompileError)) throw err;
      problems.push(locate(loaded, webhook, err));
    }
  }
  return { templates, problems };
}

function locate(loaded: Pick<LoadedRules, 'origins'>, webhook: Webhook, err: TemplateCompileError): Problem {
  const origin = loaded.origins.get(webhook.id);
  if (!origin) {
    return {
      file: webhook.file ?? `webhook ${webhook.id}`,
      line: 1,
      col: 1,
      message: `${formatPath(err.path)}: ${err.message}`,
    };
  }
  const path = [...origin.prefix, ...writtenPath(entryAt(origin.src.value, origin.prefix), err.path)];
  return origin.src.problem(path, `${formatPath(path)}: ${err.message}`);
}

/** The raw rule-file entry of a webhook, to see which alias it was written with. */
function entryAt(doc: unknown, prefix: readonly (string | number)[]): unknown {
  let cur = doc;
  for (const seg of prefix) cur = (cur as Record<string | number, unknown> | undefined)?.[seg];
  return cur;
}

/** Model paths use the canonical names; point at the alias when that is what the file says. */
function writtenPath(entry: unknown, path: FieldPath): FieldPath {
  const raw = entry !== null && typeof entry === 'object' ? (entry as Record<string, unknown>) : {};
  if (path[0] === 'url' && raw.url === undefined && raw.targetUrl !== undefined)
    return ['targetUrl', ...path.slice(1)];
  return path;
}
