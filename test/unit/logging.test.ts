/**
 * Secrets are redacted by path (issue 8): log lines carrying the shapes
 * hookd logs (a webhook with every kind of credential, API bodies,
 * transport data, request headers, the config) never contain a secret
 * value, while the fields around them stay readable.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger, REDACTED } from '../../src/logging.ts';

function capture() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: createLogger('info', sink), lines };
}

/** Every value here is a secret: none may appear in any log line. */
const S = {
  signing: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  headerSecret: 'hdr-secret-7f3a',
  basicPassword: 'basic-pass-19c2',
  bearer: 'bearer-tok-55d1',
  clientSecret: 'oauth-client-secret-a8e0',
  sftpPassword: 'sftp-pass-0b4e',
  privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----abc',
  passphrase: 'key-passphrase-3c3c',
  smtpPass: 'smtp-pass-e1e1',
  natsToken: 'nats-token-9999',
  apiToken: 'api-token-4242',
  authHeader: 'Bearer hdr-bearer-7777',
  xAuthToken: 'x-auth-token-8888',
  cookie: 'sid=cookie-6666',
  accessToken: 'access-token-5555',
};

const webhook = {
  id: 'f1c4',
  identifier: 'crm-contacts',
  url: 'https://crm.example.com/hooks',
  secret: S.signing,
  headers: { 'X-Api-Key': { value: S.headerSecret, secret: true } },
  authentication: {
    grant_type: 'client_credentials',
    endpoint: 'https://auth.example.com/token',
    credentials: { client_id: 'hookd', client_secret: S.clientSecret },
  },
};

test('a webhook, its transport data and its credentials are redacted wherever they are logged', () => {
  const { logger, lines } = capture();
  logger.info({ webhook }, 'webhook loaded');
  logger.info({
    webhook: { ...webhook, authentication: { type: 'basic', username: 'u', password: S.basicPassword } },
  });
  logger.info({ webhook: { ...webhook, authentication: { type: 'bearer', token: S.bearer } } });
  logger.info({
    webhook: {
      identifier: 'archive',
      type: 'sftp',
      data: {
        host: 'sftp.example.com',
        user: 'u',
        password: S.sftpPassword,
        privateKey: S.privateKey,
        passphrase: S.passphrase,
      },
    },
  });
  logger.info({
    webhook: {
      identifier: 'mail',
      type: 'email',
      data: { host: 'smtp.example.com', auth: { user: 'u', pass: S.smtpPass } },
    },
  });
  logger.info({
    webhook: { identifier: 'bus', type: 'nats', data: { url: 'nats://n:4222', token: S.natsToken } },
  });
  // The management API logging a request body, and transports logging their own settings.
  logger.child({ component: 'api' }).warn({ body: webhook }, 'rejected webhook');
  logger.info({ data: { host: 'sftp.example.com', password: S.sftpPassword, privateKey: S.privateKey } });
  logger.info({ authentication: { type: 'bearer', token: S.bearer } });

  const out = lines.join('\n');
  for (const [name, secret] of Object.entries(S)) assert.ok(!out.includes(secret), `${name} leaked:\n${out}`);
  assert.match(out, /crm-contacts/, 'the identifier stays readable');
  assert.match(out, /sftp\.example\.com/, 'non-secret settings stay readable');
  assert.ok(out.includes(`"credentials":"${REDACTED}"`), 'OAuth2 credentials are replaced as a whole');
});

test('request headers, tokens and the config are redacted', () => {
  const { logger, lines } = capture();
  const headers = {
    authorization: S.authHeader,
    'x-auth-token': S.xAuthToken,
    cookie: S.cookie,
    'content-type': 'application/json',
  };
  logger.info({ req: { method: 'POST', url: '/v1/webhooks', headers } }, 'request');
  logger.info({ request: { method: 'POST', url: 'https://crm.example.com/hooks', headers } }, 'sending');
  logger.info({ headers }, 'headers');
  logger.info({
    config: { api: { tokens: [{ name: 'admin', token: S.apiToken, permissions: ['WEBHOOKS:VIEW'] }] } },
  });
  logger.info({
    token: S.apiToken,
    password: S.basicPassword,
    secret: S.signing,
    access_token: S.accessToken,
  });
  logger.info({ client_secret: S.clientSecret, credentials: { client_secret: S.clientSecret } });

  const out = lines.join('\n');
  for (const [name, secret] of Object.entries(S)) assert.ok(!out.includes(secret), `${name} leaked:\n${out}`);
  assert.match(out, /application\/json/, 'other headers stay readable');
  assert.match(out, /"name":"admin"/);
});

test('the delivery outcome line keeps its fields', () => {
  const { logger, lines } = capture();
  logger.info(
    {
      delivery: 'd1',
      event: 'e1',
      webhook: 'crm-contacts',
      attempt: 2,
      outcome: 'success',
      status: 200,
      latencyMs: 12.5,
    },
    'delivered',
  );
  const line = JSON.parse(lines[0]!);
  assert.deepEqual(
    [line.delivery, line.webhook, line.attempt, line.status, line.latencyMs, line.msg],
    ['d1', 'crm-contacts', 2, 200, 12.5, 'delivered'],
  );
});
