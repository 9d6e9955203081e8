/** `hookd_webhook_state{webhook,state}`: webhooks per identifier and state (identifiers may be shared). */
import type { Metrics } from './metrics.ts';

const STATES = ['Active', 'Stopped', 'TooManyErrors'] as const;

export function setWebhookStateGauge<W extends { identifier: string }>(
  metrics: Metrics,
  webhooks: readonly W[],
  stateOf: (w: W) => string,
): void {
  const counts = new Map<string, number>();
  for (const w of webhooks) {
    const key = `${metrics.webhookLabel(w.identifier)}\0${stateOf(w)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  metrics.webhookState.reset();
  const labels = new Set([...counts.keys()].map((k) => k.split('\0')[0]!));
  for (const webhook of labels) {
    for (const state of STATES)
      metrics.webhookState.set({ webhook, state }, counts.get(`${webhook}\0${state}`) ?? 0);
  }
}
