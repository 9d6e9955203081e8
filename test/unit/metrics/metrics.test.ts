/**
 * The instruments (DESIGN.md section 6): series that panels and alerts read
 * exist at zero before anything happens, per-webhook labels can be turned
 * off, and the reload gauge follows the last reload.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ATTEMPT_BUCKETS,
  ATTEMPT_OUTCOMES,
  BREAKER_TARGETS,
  Metrics,
  REJECT_REASONS,
} from '../../../src/metrics/metrics.ts';

/** `name{labels} value` → value, for exact lookups. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

test('known label values exist at zero from the start', async () => {
  const m = new Metrics({ perWebhookLabels: true, processMetrics: false });
  const s = samples(await m.text());
  for (const reason of REJECT_REASONS)
    assert.equal(s.get(`hookd_events_rejected_total{reason="${reason}"}`), 0);
  for (const source of ['nats', 'http'])
    assert.equal(s.get(`hookd_events_received_total{source="${source}"}`), 0);
  for (const result of ['success', 'error'])
    assert.equal(s.get(`hookd_config_reloads_total{result="${result}"}`), 0);
  assert.equal(s.get('hookd_config_last_reload_successful'), 1);
  assert.equal(s.get('hookd_nats_consumer_pending'), 0);
});

test('initWebhooks creates every outcome, breaker target and histogram series of a webhook at zero', async () => {
  const m = new Metrics({ perWebhookLabels: true, processMetrics: false });
  m.initWebhooks([
    { identifier: 'crm', type: 'http' },
    { identifier: 'archive', type: 'sftp' },
  ]);
  m.attempts.inc({ webhook: 'crm', type: 'http', outcome: 'success' });
  // Idempotent: a reload does not reset what was counted.
  m.initWebhooks([{ identifier: 'crm', type: 'http' }]);
  const s = samples(await m.text());
  for (const outcome of ATTEMPT_OUTCOMES) {
    const want = outcome === 'success' ? 1 : 0;
    assert.equal(
      s.get(`hookd_delivery_attempts_total{webhook="crm",type="http",outcome="${outcome}"}`),
      want,
    );
  }
  for (const outcome of ['succeeded', 'failed'])
    assert.equal(s.get(`hookd_deliveries_total{webhook="archive",type="sftp",outcome="${outcome}"}`), 0);
  for (const to of BREAKER_TARGETS)
    assert.equal(s.get(`hookd_breaker_transitions_total{webhook="crm",to="${to}"}`), 0);
  const last = ATTEMPT_BUCKETS.at(-1);
  assert.equal(s.get(`hookd_delivery_attempt_duration_seconds_bucket{le="${last}",type="sftp"}`), 0);
  assert.equal(s.get(`hookd_delivery_duration_seconds_count{type="http"}`), 0);
});

test('with perWebhookLabels off every per-webhook series says all', async () => {
  const m = new Metrics({ perWebhookLabels: false, processMetrics: false });
  m.initWebhooks([
    { identifier: 'crm', type: 'http' },
    { identifier: 'billing', type: 'http' },
  ]);
  m.deliveries.inc({ webhook: m.webhookLabel('crm'), type: 'http', outcome: 'failed' });
  const text = await m.text();
  assert.doesNotMatch(text, /webhook="(crm|billing)"/);
  assert.equal(samples(text).get('hookd_deliveries_total{webhook="all",type="http",outcome="failed"}'), 1);
});

test('the reload gauge says whether the rules in force are the latest', async () => {
  const m = new Metrics({ perWebhookLabels: true, processMetrics: false });
  m.configReloaded(false, 1_000_000);
  let s = samples(await m.text());
  assert.equal(s.get('hookd_config_last_reload_successful'), 0);
  assert.equal(s.get('hookd_config_reloads_total{result="error"}'), 1);
  m.configReloaded(true, 2_000_000);
  s = samples(await m.text());
  assert.equal(s.get('hookd_config_last_reload_successful'), 1);
  assert.equal(s.get('hookd_config_last_reload_success_timestamp_seconds'), 2000);
});

test('names follow the Prometheus conventions, process metrics included', async () => {
  const m = new Metrics({ perWebhookLabels: true });
  for (const metric of await m.registry.getMetricsAsJSON()) {
    assert.match(metric.name, /^hookd_[a-z0-9_]+$/);
    if (String(metric.type) === 'counter')
      assert.match(metric.name, /_total$/, `${metric.name} is a counter`);
    else assert.doesNotMatch(metric.name, /_total$/, `${metric.name} is a ${String(metric.type)}`);
  }
  assert.match(await m.text(), /^hookd_nodejs_eventloop_lag_p99_seconds /m);
});
