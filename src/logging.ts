/**
 * pino JSON logs. Secrets are redacted by path as a second line of defence;
 * the first is never putting them in a log object.
 */
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'secret',
  '*.secret',
  'password',
  '*.password',
  'privateKey',
  '*.privateKey',
  'token',
  '*.token',
  'client_secret',
  '*.client_secret',
  '*.credentials',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-auth-token"]',
  '*.headers["x-auth-token"]',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'hookd' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
