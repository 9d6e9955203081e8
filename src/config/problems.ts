/**
 * Config and rule problems, each with its place: `file:line:col: message`
 * (DESIGN.md section 1, `hookd check`).
 */
export interface Problem {
  file: string;
  line: number;
  col: number;
  message: string;
}

export function formatProblem(p: Problem): string {
  // Values from environment variables have no position: `env HOOKD_HTTP_PORT: message`.
  // A problem with the file itself (not a regular file, a dangling link...) has no position: line 0.
  if (p.file.startsWith('env ') || p.line === 0) return `${p.file}: ${p.message}`;
  return `${p.file}:${p.line}:${p.col}: ${p.message}`;
}

/** Thrown when config or rules are invalid; carries every problem found, not just the first. */
export class ConfigError extends Error {
  readonly code = 'HOOKD_CONFIG_INVALID';
  constructor(readonly problems: Problem[]) {
    super(problems.map(formatProblem).join('\n'));
  }
}

/** Renders a field path as `webhooks[0].data.port`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const s = String(seg);
      out += /^[A-Za-z_$][\w$-]*$/.test(s) ? (out ? `.${s}` : s) : `[${JSON.stringify(s)}]`;
    }
  }
  return out;
}
