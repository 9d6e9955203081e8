/**
 * What one finished attempt shows outside: its metrics and its log line
 * (DESIGN.md section 6). Successes log at debug (one info line per delivery
 * cost a sixth of the throughput, issue 14); failures stay one line each.
 */
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/index.ts';
import type { AttemptRun } from './attempt-runner.ts';
import type { NextStep } from './delivery-policy.ts';
import type { DueRow } from './due-work.ts';

export function reportAttempt(
  out: { metrics: Metrics; logger: Logger },
  row: DueRow,
  type: string,
  attempt: number,
  run: AttemptRun,
  next: NextStep,
  now: number,
): void {
  const { metrics, logger } = out;
  const { result, durationMs } = run;
  const label = metrics.webhookLabel(row.identifier);
  metrics.attempts.inc({ webhook: label, type, outcome: result.outcome });
  metrics.attemptDuration.observe({ type }, durationMs / 1000);
  if (next.state !== 'pending') {
    metrics.deliveries.inc({ webhook: label, type, outcome: next.state });
    metrics.deliveryDuration.observe({ type }, (now - row.received_at) / 1000);
  }
  // A success's line is at debug: its fields are not even built unless that level is on (one object per delivery).
  if (result.outcome === 'success' && !logger.isLevelEnabled('debug')) return;
  const log = {
    delivery: row.id,
    event: row.event_id,
    webhook: row.identifier,
    webhookId: row.webhook_id,
    attempt,
    outcome: result.outcome,
    status: result.status,
    latencyMs: Math.round(durationMs * 10) / 10,
    next: next.state,
    ...(result.outcome === 'success' ? {} : { error: result.error }),
  };
  if (result.outcome === 'success') logger.debug(log, 'delivered');
  else if (next.state === 'failed') logger.warn(log, 'delivery failed');
  else logger.info(log, 'delivery attempt failed; will retry');
}
