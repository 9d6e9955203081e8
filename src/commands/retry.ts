/** `hookd retry --webhook ID [--since T]`: puts failed (dead-lettered) deliveries back in the queue. */
import { loadConfig } from '../config/index.ts';
import { requeueAt } from '../dispatch/index.ts';
import { JetStreamStore, openStore, type Store } from '../outbox/index.ts';
import type { Output } from './output.ts';

export async function runRetry(
  opts: { config?: string; webhook?: string; since?: string },
  out: Output,
): Promise<number> {
  const config = loadConfig(opts.config);
  let since: number | undefined;
  if (opts.since !== undefined) {
    since = Date.parse(opts.since);
    if (Number.isNaN(since)) {
      out.stderr(`hookd retry: --since "${opts.since}" is not a date or date-time`);
      return 2;
    }
  }
  // jetstream: the dead letters are in NATS; every replica sees the requeued deliveries at once.
  let store: Store;
  if (config.store.backend === 'jetstream') {
    try {
      store = await JetStreamStore.connect(config.nats.url!, {
        name: 'hookd retry',
        replicas: config.store.jetstream.replicas,
        retention: config.store.retention,
      });
    } catch (err) {
      out.stderr(`hookd retry: ${(err as Error).message}`);
      return 1;
    }
  } else store = openStore(config.store.path, { writer: 'inline' }); // one write: no writer thread
  try {
    const now = Date.now();
    const n = await store.deliveries.retryFailed(
      { webhookId: opts.webhook, since, dueAt: requeueAt(now) },
      now,
    );
    out.stdout(`requeued ${n} failed deliver${n === 1 ? 'y' : 'ies'}`);
    return 0;
  } finally {
    await store.close();
  }
}
