/**
 * API webhooks as the catalog sees them: each stored spec validated exactly
 * like a rule file entry. One that cannot be opened (a missing or wrong
 * `security.secretsKey`) or no longer validates (a plugin type gone, a
 * transport schema changed) is left out and reported, but stays in the store.
 * The daemon (`WebhookService.load`) and `hookd explain` read them this way.
 */
import { formatProblem, type Problem, type YamlSource } from '../config/index.ts';
import type { StoredWebhook } from '../outbox/index.ts';
import { validateWebhook, type Webhook, type WebhookTypes } from '../rules/index.ts';

export interface LoadedApiWebhook {
  webhook: Webhook;
  stored: StoredWebhook;
}

export interface SkippedApiWebhook {
  id: string;
  message: string;
  errors: string[];
}

/** A problem located by its field path; `path` is kept so the API dialects can rename the fields. */
export interface PathProblem extends Problem {
  path: readonly PropertyKey[];
}

/** A spec (a parsed JSON body) has no lines: every problem is at `body:1:1` and carries its field path. */
export function specSource(value: unknown): YamlSource {
  return {
    file: 'body',
    value,
    problems: [],
    locate: () => ({ line: 1, col: 1 }),
    problem(path, message): PathProblem {
      return { file: 'body', line: 1, col: 1, message, path: [...path] };
    },
  };
}

export function validateApiWebhook(
  id: string,
  spec: Record<string, unknown>,
  types: WebhookTypes,
  problems: Problem[],
  src: YamlSource = specSource(spec),
): Webhook | undefined {
  return validateWebhook(spec, { src, prefix: [], id, source: 'api', registry: types }, problems);
}

export function readApiWebhooks(
  stored: readonly StoredWebhook[],
  types: WebhookTypes,
): { loaded: LoadedApiWebhook[]; skipped: SkippedApiWebhook[] } {
  const loaded: LoadedApiWebhook[] = [];
  const skipped: SkippedApiWebhook[] = [];
  for (const s of stored) {
    if (s.unreadable) {
      skipped.push({
        id: s.id,
        message: 'a stored API webhook cannot be decrypted and is not loaded',
        errors: [s.unreadable],
      });
      continue;
    }
    const problems: Problem[] = [];
    const webhook = validateApiWebhook(s.id, s.spec, types, problems);
    if (webhook) loaded.push({ webhook, stored: s });
    else
      skipped.push({
        id: s.id,
        message: 'a stored API webhook is invalid and is not loaded',
        errors: problems.map(formatProblem),
      });
  }
  return { loaded, skipped };
}
