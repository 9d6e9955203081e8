/**
 * The `nats` transport: republishes the rendered body to a templated subject
 * on a NATS server given in `data.url`. With JetStream (default) the publish
 * carries `Nats-Msg-Id` = delivery id, so a retry after a lost ack is
 * dropped by the stream's duplicate window (idempotent) and success means the
 * stream stored it. Connections are pooled per server and credentials, made
 * to the address the SSRF guard checked, and never follow cluster gossip.
 */
import { createHash } from 'node:crypto';
import { JetStreamApiError, jetstream } from '@nats-io/jetstream';
import {
  AuthorizationError,
  connect,
  InvalidSubjectError,
  type NatsConnection,
  type NodeConnectionOptions,
  NoRespondersError,
  headers as natsHeaders,
  PermissionViolationError,
  UserAuthenticationExpiredError,
} from '@nats-io/transport-node';
import { z } from 'zod';
import { abortedResult, raceSignal } from '../abort.ts';
import type { Delivery, HostContext, SendResult, TransportInstance, TransportModule } from '../contract.ts';
import { permanent, retryable, success } from '../contract.ts';
import { renderedField } from '../fields.ts';
import { findRefusal, NetworkGuard } from '../net/guard.ts';

export const NatsDataSchema = z.strictObject({
  /** The server to publish to: `nats://host:4222` (or `tls://host:4222` for TLS, verified). */
  url: z
    .string()
    .regex(
      /^(nats|tls):\/\/[^/@\s]+$/,
      'a NATS server URL such as nats://nats.example.com:4222 (credentials go in token or user/pass)',
    ),
  /** Template: the subject, e.g. `hooks.{/type}`. */
  subject: z.string().min(1),
  /** Publish through JetStream and wait for the stream's ack (idempotent by delivery id). @default true */
  jetstream: z.boolean().default(true),
  /** Write-only. */
  token: z.string().min(1).optional(),
  user: z.string().min(1).optional(),
  /** Write-only. */
  pass: z.string().min(1).optional(),
});
export type NatsData = z.output<typeof NatsDataSchema>;

/** A NATS subject token may not be empty or hold whitespace; a published subject may not hold wildcards. */
const SUBJECT = /^[^\s.*>]+(\.[^\s.*>]+)*$/;

function target(url: string): { host: string; port: number; tls: boolean } {
  const u = new URL(url);
  return { host: u.hostname, port: u.port === '' ? 4222 : Number(u.port), tls: u.protocol === 'tls:' };
}

export function classifyNatsError(err: unknown, subject: string, context = ''): SendResult {
  const refused = findRefusal(err);
  if (refused) return permanent(refused.message);
  for (let e = err, i = 0; e && i < 4; e = (e as { cause?: unknown }).cause, i++) {
    if (e instanceof AuthorizationError || e instanceof UserAuthenticationExpiredError) {
      return permanent(`NATS authorization failed: ${(e as Error).message}`);
    }
    if (e instanceof PermissionViolationError) return permanent(`NATS permission denied: ${e.message}`);
    if (e instanceof InvalidSubjectError) return permanent(`invalid subject "${subject}"`);
    if (e instanceof NoRespondersError) {
      // Like an HTTP 503: the stream may be created (or come back) later.
      return retryable(`no JetStream stream captures subject "${subject}" (no responders)`, { status: 503 });
    }
    if (e instanceof JetStreamApiError) {
      const text = `JetStream API error ${e.code} (HTTP-like ${e.status}): ${e.message}`;
      return e.status >= 500 ? retryable(text, { status: e.status }) : permanent(text, { status: e.status });
    }
  }
  const e = err as { code?: string; message?: string };
  if (/max.?payload/i.test(e.message ?? '')) return permanent(`message too large: ${e.message}`);
  return retryable(context + (e.code ? `${e.code}: ${e.message}` : String(e.message ?? err)));
}

export function createNats(ctx: HostContext): TransportInstance {
  const guard = new NetworkGuard(ctx.security, ctx.network);
  const pool = new Map<string, Promise<NatsConnection>>();
  const live = new Set<NatsConnection>();
  let closing = false;

  const open = async (data: NatsData): Promise<NatsConnection> => {
    const t = target(data.url);
    // Connect to the address the guard checked; TLS still verifies the certificate against the name.
    const { address, family } = await guard.resolve(t.host);
    return connect({
      servers: family === 6 ? `[${address}]:${t.port}` : `${address}:${t.port}`,
      name: 'hookd',
      token: data.token,
      user: data.user,
      pass: data.pass,
      // `servername` is not in nats.js's TlsOptions type but is passed on to tls.connect (SNI and verification).
      tls: t.tls ? ({ servername: t.host } as NonNullable<NodeConnectionOptions['tls']>) : undefined,
      timeout: ctx.timeoutMs,
      reconnect: false,
      // Never learn (and connect to) other servers from the INFO this one sends.
      ignoreClusterUpdates: true,
      noRandomize: true,
    });
  };

  const connection = (data: NatsData): Promise<NatsConnection> => {
    if (closing) return Promise.reject(new Error('the nats transport is closed'));
    const key = createHash('sha256')
      .update(JSON.stringify([data.url, data.token ?? '', data.user ?? '', data.pass ?? '']))
      .digest('base64url');
    let pending = pool.get(key);
    if (!pending) {
      const p = open(data);
      pending = p;
      pool.set(key, p);
      const forget = () => {
        if (pool.get(key) === p) pool.delete(key);
      };
      p.then((nc) => {
        // A connect that finishes after close() is closed straight away.
        if (closing) void nc.close();
        live.add(nc);
        void nc.closed().then(() => {
          live.delete(nc);
          forget();
        });
      }, forget);
    }
    return pending;
  };

  return {
    async send(d: Delivery, signal: AbortSignal): Promise<SendResult> {
      let data: NatsData;
      try {
        data = NatsDataSchema.parse(d.webhook.data);
      } catch (err) {
        return permanent(`invalid nats data: ${(err as z.ZodError).issues?.[0]?.message ?? String(err)}`);
      }
      const rendered = renderedField(d, data, 'subject');
      if (typeof rendered !== 'string' || rendered === '') {
        return permanent('the subject template found no value in the event');
      }
      const subject = rendered;
      if (!SUBJECT.test(subject))
        return permanent(`invalid subject "${subject}": no spaces, wildcards or empty tokens`);
      if (signal.aborted) return abortedResult(signal);
      const h = natsHeaders();
      for (const [k, v] of Object.entries(d.request.headers)) h.set(k, v);
      h.set('Content-Type', d.request.contentType);
      h.set('Hookd-Delivery-Id', d.id);
      h.set('Hookd-Event-Id', d.eventId);
      h.set('Hookd-Event-Type', d.eventType);
      const body = new TextEncoder().encode(d.request.body);
      let nc: NatsConnection;
      try {
        nc = await raceSignal(connection(data), signal);
      } catch (err) {
        if (signal.aborted) return abortedResult(signal);
        return classifyNatsError(err, subject, `connect to ${data.url}: `);
      }
      try {
        if (data.jetstream) {
          const ack = await raceSignal(
            jetstream(nc).publish(subject, body, { msgID: d.id, headers: h, timeout: ctx.timeoutMs }),
            signal,
          );
          return success(
            undefined,
            `stored in stream ${ack.stream} seq ${ack.seq}${ack.duplicate ? ' (duplicate)' : ''}`,
          );
        }
        h.set('Nats-Msg-Id', d.id);
        nc.publish(subject, body, { headers: h });
        await raceSignal(nc.flush(), signal);
        return success(undefined, `published to ${subject}`);
      } catch (err) {
        if (signal.aborted) return abortedResult(signal);
        return classifyNatsError(err, subject);
      }
    },
    async close() {
      closing = true;
      await Promise.all([...live].map((nc) => nc.close()));
      pool.clear();
    },
  };
}

export const natsTransport: TransportModule<NatsData> = {
  types: ['nats'],
  dataSchema: NatsDataSchema,
  secretFields: ['token', 'pass'],
  templateFields: ['subject'],
  create: createNats,
};
