/**
 * `hookd publish`: publishes events to JetStream, for demos and smoke tests.
 * With `--count N` each copy gets a fresh `id` (suffix `-<n>`) so all are distinct events.
 */
import { readFileSync } from 'node:fs';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { Output } from './output.ts';

export async function runPublish(
  opts: { url: string; subject: string; file?: string; data?: string; count: number },
  out: Output,
): Promise<number> {
  const text = opts.file !== undefined ? readFileSync(opts.file, 'utf8') : opts.data;
  if (text === undefined) {
    out.stderr('hookd publish: give --file F or --data JSON');
    return 2;
  }
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(text);
  } catch (err) {
    out.stderr(`hookd publish: the event is not JSON: ${(err as Error).message}`);
    return 2;
  }
  const nc = await connect({ servers: opts.url });
  try {
    const js = jetstream(nc);
    const baseId = typeof event.id === 'string' ? event.id : `evt-${Date.now()}`;
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < opts.count; i++) {
      const id = opts.count === 1 ? baseId : `${baseId}-${i + 1}`;
      pending.push(js.publish(opts.subject, JSON.stringify({ ...event, id }), { msgID: id }));
      if (pending.length >= 256) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    out.stdout(`published ${opts.count} event${opts.count === 1 ? '' : 's'} to ${opts.subject}`);
    return 0;
  } finally {
    await nc.close();
  }
}
