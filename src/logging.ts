/**
 * pino JSON logs. Secrets are redacted by path as a second line of defence;
 * the first is never putting them in a log object.
 *
 * The paths name the shapes hookd logs (a webhook, its transport `data` and
 * `authentication`, request headers, the config) rather than using leading
 * wildcards (`*.password`): pino's wildcard redaction walks every key of
 * every line and made each delivery log line about six times slower.
 */
import pino, { type Logger } from 'pino';

/** Fields that hold a secret wherever they appear at the top of a log object. */
const SECRET_KEYS = [
  'secret',
  'password',
  'passphrase',
  'privateKey',
  'token',
  'pass',
  'client_secret',
  'credentials',
  'authorization',
  'access_token',
];

/** Secret-bearing paths inside a webhook (DESIGN.md section 3 and the transports' `data`). */
const WEBHOOK_SECRETS = [
  'secret',
  'previousSecrets[*].secret',
  'authentication.password',
  'authentication.token',
  'authentication.credentials',
  'data.password',
  'data.privateKey',
  'data.passphrase',
  'data.token',
  'data.pass',
  'data.auth.pass',
  // Header values may be secret (`{value, secret: true}`); a path cannot look at the flag.
  'headers.*.value',
];

const DATA_SECRETS = ['password', 'privateKey', 'passphrase', 'token', 'pass', 'auth.pass'];
const AUTHENTICATION_SECRETS = ['password', 'token', 'credentials'];
const HEADER_SECRETS = ['authorization', '["x-auth-token"]', 'cookie', '["proxy-authorization"]'];

function under(prefix: string, paths: readonly string[]): string[] {
  return paths.map((p) => (p.startsWith('[') ? `${prefix}${p}` : `${prefix}.${p}`));
}

export const REDACT_PATHS: readonly string[] = [
  ...SECRET_KEYS,
  ...under('webhook', WEBHOOK_SECRETS),
  // API request bodies are webhooks too.
  ...under('body', WEBHOOK_SECRETS),
  ...under('data', DATA_SECRETS),
  ...under('authentication', AUTHENTICATION_SECRETS),
  'config.api.tokens[*].token',
  'api.tokens[*].token',
  ...under('headers', HEADER_SECRETS),
  ...under('req.headers', HEADER_SECRETS),
  ...under('request.headers', HEADER_SECRETS),
];

export const REDACTED = '[redacted]';

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'hookd' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
