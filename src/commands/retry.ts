/** `hookd retry --webhook ID [--since T]`: puts failed (dead-lettered) deliveries back in the queue. */
import { loadConfig } from '../config/load.ts';
import { requeueAt } from '../dispatch/index.ts';
import { Outbox } from '../outbox/store.ts';
import type { Output } from './output.ts';

export function runRetry(opts: { config?: string; webhook?: string; since?: string }, out: Output): number {
  const config = loadConfig(opts.config);
  let since: number | undefined;
  if (opts.since !== undefined) {
    since = Date.parse(opts.since);
    if (Number.isNaN(since)) {
      out.stderr(`hookd retry: --since "${opts.since}" is not a date or date-time`);
      return 2;
    }
  }
  const outbox = new Outbox(config.store.path);
  try {
    const now = Date.now();
    const n = outbox.retryFailed({ webhookId: opts.webhook, since, dueAt: requeueAt(now) }, now);
    out.stdout(`requeued ${n} failed deliver${n === 1 ? 'y' : 'ies'}`);
    return 0;
  } finally {
    outbox.close();
  }
}
