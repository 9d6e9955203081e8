/**
 * `npm run soak:retention` (issue 14 acceptance 3): the store under a long
 * steady load with a short retention keeps its file size flat. Drives the
 * SQLite store directly on a simulated clock: SOAK_DELIVERIES (2,000,000)
 * deliveries at SOAK_RATE (1,000) per simulated second, each stored in
 * intake batches, delivered (one in ten after a failed first attempt), and
 * pruned the way hookd does (every 10 s, transactions of 500) with
 * `store.retention.succeeded` SOAK_RETENTION_S (60) s. Prints the store's
 * size (database + WAL) as it goes and the bytes written per delivery.
 * 2,000,000 at 1,000/s is 33 simulated minutes, 33 retention windows over.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import {
  type AttemptResult,
  deliveryId,
  type NewDelivery,
  RetentionLoop,
  SqliteStore,
} from '../../src/outbox/index.ts';

const TOTAL = Number(process.env.SOAK_DELIVERIES ?? 2_000_000);
const RATE = Number(process.env.SOAK_RATE ?? 1000);
const RETENTION_S = Number(process.env.SOAK_RETENTION_S ?? 60);
const BATCH = 250;

const dir = mkdtempSync(join(tmpdir(), 'hookd-soak-'));
const store = new SqliteStore(join(dir, 'hookd.db'));
let now = Date.UTC(2026, 0, 1);
const retention = { succeeded: RETENTION_S * 1000, failed: 720 * 3_600_000, rejected: 720 * 3_600_000 };
const loop = new RetentionLoop({
  store,
  retention,
  logger: pino({ level: 'silent' }),
  now: () => now,
  batch: 500,
});
const written = () => Number(/write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? 0);
const mib = (b: number) => (b / 2 ** 20).toFixed(1);

const body = JSON.stringify({
  specversion: '1.0',
  type: 'order.created',
  source: '/shop',
  data: { order: 'ord-000000', total: 129.5, currency: 'EUR', lines: 3 },
});
const w0 = written();
const t0 = performance.now();
let stored = 0;
let nextPrune = now + 10_000;
const sizes: number[] = [];
while (stored < TOTAL) {
  // One simulated second: RATE deliveries in intake batches, each delivered within the second.
  for (let done = 0; done < RATE && stored < TOTAL; done += BATCH) {
    const rows: NewDelivery[] = [];
    for (let i = 0; i < BATCH && stored + i < TOTAL; i++) {
      const eventId = `evt-${stored + i}`;
      rows.push({
        id: deliveryId(eventId, 'shop'),
        eventId,
        eventType: 'order.created',
        webhookId: 'shop',
        identifier: 'shop',
        transport: 'http',
        priority: 0,
        receivedAt: now,
        nextAttemptAt: now,
        request: { headers: {}, contentType: 'application/json', fields: {}, body },
      } as NewDelivery);
    }
    await store.deliveries.insert(rows);
    store.deliveries.claimed(rows.length);
    const results: AttemptResult[] = rows.map((r, i) => {
      const retried = (stored + i) % 10 === 0;
      return {
        deliveryId: r.id,
        attempt: retried ? 2 : 1,
        startedAt: now,
        durationMs: 3,
        outcome: 'success',
        status: 200,
        response: '',
        next: { state: 'succeeded' },
      };
    });
    await store.deliveries.complete(results, now);
    stored += rows.length;
  }
  now += 1000;
  if (now >= nextPrune) {
    await loop.pass();
    nextPrune = now + 10_000;
  }
  if (stored % 100_000 < RATE) {
    const bytes = store.bytes();
    sizes.push(bytes);
    console.log(
      `${stored} deliveries (${Math.round((now - Date.UTC(2026, 0, 1)) / 1000)} simulated s): store ${mib(bytes)} MiB, ` +
        `${store.deliveries.depth().succeeded} kept`,
    );
  }
}
const seconds = (performance.now() - t0) / 1000;
const late = sizes.slice(Math.floor(sizes.length / 2));
console.log(
  `\n${TOTAL} deliveries in ${seconds.toFixed(0)} s (${Math.round(TOTAL / seconds)}/s), retention ${RETENTION_S} s: ` +
    `store ${mib(Math.min(...late))}–${mib(Math.max(...late))} MiB over the second half (final ${mib(store.bytes())} MiB); ` +
    `${Math.round((written() - w0) / TOTAL)} bytes written per delivery (WAL + database, pruning included)`,
);
await store.close();
rmSync(dir, { recursive: true, force: true });
