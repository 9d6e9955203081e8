/**
 * Loads `config/hookd.yaml`, applies environment overrides, validates.
 * Raw file → with env → validated `Config`; a bad config throws a
 * `ConfigError` naming file, line and key.
 */
import { applyEnv } from './env.ts';
import { ConfigError, type Problem } from './problems.ts';
import { readTextFileSync } from './read-text-file.ts';
import { type Config, ConfigSchema } from './schema.ts';
import { parseYaml, zodProblems } from './yaml-source.ts';

export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  let raw: Record<string, unknown> = {};
  let src = parseYaml(file ?? '<defaults>', '');
  if (file !== undefined) {
    const read = readTextFileSync(file);
    if (!read.ok) {
      const p = read.problem;
      throw new ConfigError([p.line ? p : { ...p, message: `cannot read config: ${p.message}` }]);
    }
    src = parseYaml(file, read.text);
    if (src.problems.length) throw new ConfigError(src.problems);
    if (src.value !== null && src.value !== undefined) {
      if (typeof src.value !== 'object' || Array.isArray(src.value)) {
        throw new ConfigError([
          src.problem([], 'the config must be a mapping of sections (nats, store, http, ...)'),
        ]);
      }
      raw = src.value as Record<string, unknown>;
    }
  }
  const { value, problems: envProblems, applied } = applyEnv(ConfigSchema, raw, env);
  if (envProblems.length) throw new ConfigError(envProblems);
  /**
   * Where a problem at `path` comes from: the environment variable that set
   * it (or a section above it), else its place in the file. Every check
   * below goes through it, so no error caused by an override points at the
   * file's line that the override replaced.
   */
  const locate = (path: readonly PropertyKey[], message: string, located?: Problem): Problem => {
    const from = applied.find((a) => a.path.every((seg, j) => String(path[j]) === seg));
    if (from) return { file: `env ${from.name}`, line: 1, col: 1, message };
    return located ?? src.problem(path, message);
  };
  const parsed = ConfigSchema.safeParse(value);
  if (!parsed.success) {
    throw new ConfigError(
      zodProblems(src, parsed.error).map((p, i) => locate(parsed.error.issues[i]?.path ?? [], p.message, p)),
    );
  }
  const config = parsed.data;
  const problems: Problem[] = [];
  config.api.tokens.forEach((t, i) => {
    if (t.tokenEnv !== undefined && !env[t.tokenEnv]) {
      problems.push(
        locate(
          ['api', 'tokens', i, 'tokenEnv'],
          `api.tokens[${i}].tokenEnv: environment variable ${t.tokenEnv} is not set`,
        ),
      );
    }
  });
  if (config.store.backend === 'jetstream' && config.nats.url === undefined) {
    problems.push(
      locate(
        ['store', 'backend'],
        'store.backend: jetstream keeps deliveries and webhooks in NATS and needs nats.url (set nats.url or HOOKD_NATS_URL)',
      ),
    );
  }
  if (config.api.tokens.length === 0 && !isLoopback(config.http.host)) {
    problems.push(
      locate(
        ['http', 'host'],
        `http.host: no api.tokens are configured, so hookd only listens on loopback; set http.host to 127.0.0.1 or configure api.tokens (got "${config.http.host}")`,
      ),
    );
  }
  if (problems.length) throw new ConfigError(problems);
  return config;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);
}
