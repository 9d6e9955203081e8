/**
 * The HTTP surface (DESIGN.md section 5) on one port: health, readiness,
 * metrics, and event ingest. The management routes register here too.
 */
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import type { Permission } from '../config/index.ts';
import {
  type MetricsFormat,
  negotiateFormat,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
} from '../metrics/index.ts';
import type { Authenticator, Principal } from './auth.ts';

export interface ServerDeps {
  logger: Logger;
  auth: Authenticator;
  /** Largest request body, in bytes, of a route that sets no limit of its own. */
  bodyLimit: number;
  /** Readiness checks: name → ok. */
  ready: () => Record<string, boolean>;
  /**
   * Advisory checks that fail without making hookd unready (a missing
   * `security.secretsKey`): name → what is wrong. Shown as `false` among the
   * checks, with the reason under `warnings`.
   */
  advisories?: () => Record<string, string>;
  metrics: (format: MetricsFormat) => Promise<string>;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** The largest body of a management API request (a webhook): far above any real one. */
export const API_BODY_LIMIT = 1_048_576;

/**
 * An `onRequest` hook that requires `permission` (or any one of a list): it
 * runs when the headers have arrived, before the body is read, so a request
 * without the right token costs no more than its headers. It answers 401/403
 * with a JSON error and closes the connection, so an unread body is not
 * received either.
 */
export function requires(auth: Authenticator, permission: Permission | readonly Permission[]) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const r = auth.check(req.headers, permission);
    if (!r.ok) {
      await reply
        .code(r.status)
        .header('connection', 'close')
        .send({ error: r.status === 401 ? 'unauthorized' : 'forbidden', message: r.message });
      return reply;
    }
    req.principal = r.principal;
  };
}

export function createServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimit,
    // Webhook ids are up to 128 characters (WebhookIdSchema); the default limit is 100.
    routerOptions: { maxParamLength: 256 },
    // Keep the raw body as text: ingest measures and parses it itself so bad input is kept, not just refused.
  });
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(
    ['application/json', 'text/plain', 'application/cloudevents+json', 'application/cloudevents-batch+json'],
    { parseAs: 'string' },
    (_req, body, done) => done(null, body),
  );
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const checks = deps.ready();
    const ok = Object.values(checks).every(Boolean);
    const warnings = deps.advisories?.() ?? {};
    for (const name of Object.keys(warnings)) checks[name] = false;
    const body = { status: ok ? 'ready' : 'not ready', checks };
    return reply.code(ok ? 200 : 503).send(Object.keys(warnings).length ? { ...body, warnings } : body);
  });
  app.get('/metrics', async (req, reply) => {
    // OpenMetrics when the scraper asks for it (Prometheus does), else the Prometheus text format.
    const format = negotiateFormat(req.headers.accept);
    void reply.header('vary', 'Accept');
    return reply
      .type(format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE)
      .send(await deps.metrics(format));
  });
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, _req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) deps.logger.error({ err }, 'request failed');
    void reply.code(status).send({ error: err.code ?? 'error', message: err.message });
  });
  return app;
}
