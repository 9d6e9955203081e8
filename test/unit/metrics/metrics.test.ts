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
import { negotiateFormat } from '../../../src/metrics/openmetrics.ts';

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

test('names follow the Prometheus conventions; process metrics under their stock names', async () => {
  const m = new Metrics({ perWebhookLabels: true });
  for (const metric of await m.registry.getMetricsAsJSON()) {
    assert.match(metric.name, /^(hookd|process|nodejs)_[a-z0-9_]+$/);
    if (String(metric.type) === 'counter')
      assert.match(metric.name, /_total$/, `${metric.name} is a counter`);
    else assert.doesNotMatch(metric.name, /_total$/, `${metric.name} is a ${String(metric.type)}`);
  }
  const text = await m.text();
  for (const stock of [
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'process_start_time_seconds',
    'nodejs_eventloop_lag_p99_seconds',
    'nodejs_heap_size_used_bytes',
  ])
    assert.match(text, new RegExp(`^${stock} `, 'm'), stock);
  assert.doesNotMatch(text, /^hookd_(process|nodejs)_/m, 'no renamed process metrics');
});

test('OpenMetrics: counters as families without _total, info gauges as info, # EOF at the end', async () => {
  const m = new Metrics({ perWebhookLabels: true });
  m.eventsReceived.inc({ source: 'http' }, 3);
  const text = await m.text('openmetrics');
  assert.match(text, /^# TYPE hookd_events_received counter$/m);
  assert.match(text, /^hookd_events_received_total\{source="http"\} 3$/m);
  assert.match(text, /^# TYPE process_cpu_seconds counter$/m);
  assert.match(text, /^# TYPE nodejs_version info$/m);
  assert.match(text, /^nodejs_version_info\{.*\} 1$/m);
  assert.match(text, /^hookd_rule_evaluation_seconds_bucket\{le="\+Inf"\} 0$/m);
  assert.ok(text.endsWith('# EOF\n'));
  // The Prometheus format afterwards is untouched (prom-client's own OpenMetrics mode renames counters).
  assert.match(await m.text(), /^hookd_events_received_total\{source="http"\} 3$/m);
});

test('the metrics format follows the Accept header', () => {
  assert.equal(negotiateFormat(undefined), 'prometheus');
  assert.equal(negotiateFormat('*/*'), 'prometheus');
  assert.equal(negotiateFormat('text/plain;version=0.0.4'), 'prometheus');
  assert.equal(negotiateFormat('application/openmetrics-text; version=1.0.0'), 'openmetrics');
  // What Prometheus 2.x sends.
  assert.equal(
    negotiateFormat(
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
    ),
    'openmetrics',
  );
  assert.equal(negotiateFormat('application/openmetrics-text;q=0.2,text/plain;q=0.9'), 'prometheus');
  assert.equal(negotiateFormat('application/openmetrics-text;q=0'), 'prometheus');
});
