/**
 * pino JSON logs. Secrets are redacted by path as a second line of defence;
 * the first is never putting them in a log object.
 *
 * The paths name the shapes hookd logs (a webhook, its transport `data` and
 * `authentication`, request headers, the config) rather than using leading
 * wildcards (`*.password`): pino's wildcard redaction walks every key of
 * every line and made each delivery log line about six times slower. Which
 * `data` fields are secret comes from the transports' own `secretFields`
 * (`withTransportRedaction` once the plugins are loaded).
 */
import pino, { type Logger } from 'pino';
import { SECRET_HEADER_NAMES, webhookSecretPaths } from './secrets/index.ts';
import { BUILTIN_TRANSPORTS, type TransportModule } from './transports/index.ts';

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

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** A pino redaction path: dotted where it can be, bracketed where a key needs quoting. */
function pinoPath(segments: readonly string[]): string {
  return segments
    .map((s, i) => (s === '*' || IDENTIFIER.test(s) ? `${i ? '.' : ''}${s}` : `[${JSON.stringify(s)}]`))
    .join('');
}

/** The redaction paths for the given transports' secret fields. */
export function redactPaths(modules: readonly Pick<TransportModule, 'secretFields'>[]): string[] {
  const inWebhook = webhookSecretPaths(modules);
  const under = (prefix: string[], paths: readonly (readonly string[])[]) =>
    paths.map((p) => pinoPath([...prefix, ...p]));
  const parts = (head: string) => inWebhook.filter((p) => p[0] === head).map((p) => p.slice(1));
  const headers = SECRET_HEADER_NAMES.map((h) => [h]);
  return [
    ...SECRET_KEYS,
    ...under(['webhook'], inWebhook),
    // API request bodies are webhooks too.
    ...under(['body'], inWebhook),
    ...under(['data'], parts('data')),
    ...under(['authentication'], parts('authentication')),
    'config.api.tokens[*].token',
    'api.tokens[*].token',
    ...under(['headers'], headers),
    ...under(['req', 'headers'], headers),
    ...under(['request', 'headers'], headers),
  ];
}

export const REDACTED = '[redacted]';

/** A logger redacting the built-in transports' secret fields (see `withTransportRedaction` for plugins). */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'hookd' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: redactPaths(BUILTIN_TRANSPORTS), censor: REDACTED },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** `logger`, redacting the secret fields of every transport in `modules` (plugins included). */
export function withTransportRedaction(logger: Logger, modules: readonly TransportModule[]): Logger {
  return logger.child({}, { redact: { paths: redactPaths(modules), censor: REDACTED } });
}
