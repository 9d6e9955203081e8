/**
 * `POST /v1/events` (DESIGN.md section 2): one event or an array; 202 once
 * the deliveries are durably stored. Bad events are kept with their reason
 * and answered 400 (413 when too large), naming the problem.
 */
import type { FastifyInstance } from 'fastify';
import type { Rejection } from '../outbox/index.ts';
import type { HookEvent } from '../source/index.ts';
import { decodeEvent, httpItems } from '../source/index.ts';
import type { Authenticator } from './auth.ts';
import { requires } from './server.ts';

/** `POST /v1/events` takes at most this many events' worth of bytes (`events.maxBytes` each). */
export const INGEST_BATCH_EVENTS = 16;

export interface IngestDeps {
  auth: Authenticator;
  maxBytes: number;
  /** `events.maxDepth`. */
  maxDepth: number;
  accept: (
    events: HookEvent[],
    rejections: Rejection[],
  ) => Promise<{ deliveries: number; perEvent: string[][] }>;
  onReceived: (n: number) => void;
  onRejected: (reason: string) => void;
}

export function registerIngest(app: FastifyInstance, deps: IngestDeps): void {
  // Its own scope: ingest takes every content type as bytes (binary mode carries any data).
  const route = {
    onRequest: requires(deps.auth, 'EVENTS:PUBLISH'),
    // An array of events: each is held to maxBytes by decodeEvent; the request to a batch of 16 of them.
    bodyLimit: deps.maxBytes * INGEST_BATCH_EVENTS,
  };
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.post('/v1/events', route, async (req, reply) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const now = Date.now();
      const split = httpItems(body, req.headers, deps.maxDepth);
      if (!split.ok) {
        const rejection: Rejection = {
          receivedAt: now,
          source: 'http',
          subject: 'http',
          reason: 'invalid_batch' as const,
          detail: split.detail,
          payload: body.subarray(0, deps.maxBytes),
        };
        await deps.accept([], [rejection]);
        deps.onRejected(rejection.reason);
        return reply.code(400).send({
          error: 'invalid_event',
          message: `$: ${split.detail}`,
          problems: [{ path: '$', reason: rejection.reason, message: split.detail }],
        });
      }
      const events: HookEvent[] = [];
      const rejections: Rejection[] = [];
      const problems: { path: string; reason: string; message: string }[] = [];
      for (const item of split.items) {
        const d = decodeEvent({
          payload: item.payload,
          headers: item.headers,
          subject: 'http',
          requireId: true,
          maxBytes: deps.maxBytes,
          maxDepth: deps.maxDepth,
          receivedAt: now,
        });
        if (d.ok) events.push(d.event);
        else {
          const idField = item.headers ? 'ce-id' : 'id';
          const field =
            d.reason === 'missing_id' || d.reason === 'invalid_id'
              ? `${item.path}${item.path ? '.' : ''}${idField}`
              : item.path || '$';
          const message = d.detail.replace(/^id: /, '');
          problems.push({ path: field, reason: d.reason, message });
          rejections.push({
            receivedAt: now,
            source: 'http',
            subject: 'http',
            reason: d.reason,
            detail: `${field}: ${message}`,
            payload: Buffer.from(item.payload).subarray(0, deps.maxBytes),
          });
        }
      }
      // Nothing accepted is lost: with any bad event, none of the request is stored but the rejections,
      // so a client can fix and resend the whole request.
      if (problems.length) {
        await deps.accept([], rejections);
        for (const r of rejections) deps.onRejected(r.reason);
        const tooLarge = problems.every((p) => p.reason === 'too_large');
        return reply.code(tooLarge ? 413 : 400).send({
          error: tooLarge ? 'too_large' : 'invalid_event',
          message: problems.map((p) => `${p.path}: ${p.message}`).join('; '),
          problems,
        });
      }
      const r = await deps.accept(events, []);
      deps.onReceived(events.length);
      return reply.code(202).send({
        accepted: events.length,
        deliveries: r.deliveries,
        events: events.map((e, i) => ({ id: e.id, deliveries: r.perEvent[i] })),
      });
    });
  });
}
