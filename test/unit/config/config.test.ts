import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseDuration } from '../../../src/config/duration.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { ConfigError } from '../../../src/config/problems.ts';
import { makeDirs } from '../../helpers/hookd.ts';

test('durations take a unit', () => {
  assert.equal(parseDuration('200ms'), 200);
  assert.equal(parseDuration('5s'), 5000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('5'), undefined);
  assert.equal(parseDuration('5 minutes'), undefined);
});

test('defaults match DESIGN.md when the file is empty', () => {
  const c = loadConfig(undefined, {});
  assert.equal(c.http.port, 8080);
  assert.equal(c.nats.stream, 'EVENTS');
  assert.deepEqual(c.nats.subjects, ['events.>']);
  assert.equal(c.nats.consumer, 'hookd');
  assert.equal(c.nats.url, undefined, 'no url: HTTP ingest only');
  assert.deepEqual(
    c.delivery.retry.schedule,
    [0, 5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000],
  );
  assert.equal(c.delivery.retry.jitter, 0.2);
  assert.equal(c.delivery.breaker.failures, 10);
  assert.equal(c.security.allowPrivateNetworks, false);
});

test('HOOKD_<SECTION>_<KEY> overrides every setting', () => {
  const dirs = makeDirs();
  writeFileSync(dirs.configPath, 'http:\n  port: 9000\nnats:\n  url: nats://a:1\n');
  const c = loadConfig(dirs.configPath, {
    HOOKD_NATS_URL: 'nats://127.0.0.1:4333',
    HOOKD_HTTP_PORT: '9100',
    HOOKD_STORE_PATH: '/tmp/x.db',
    HOOKD_SECURITY_ALLOW_PRIVATE_NETWORKS: 'true',
    HOOKD_DELIVERY_TIMEOUT_MS: '2500',
    HOOKD_DELIVERY_RETRY_SCHEDULE: '0s,1s,10s',
    HOOKD_NATS_SUBJECTS: '["a.>","b.>"]',
    HOOKD_LOG_LEVEL: 'debug',
  });
  dirs.cleanup();
  assert.equal(c.nats.url, 'nats://127.0.0.1:4333');
  assert.equal(c.http.port, 9100);
  assert.equal(c.store.path, '/tmp/x.db');
  assert.equal(c.security.allowPrivateNetworks, true);
  assert.equal(c.delivery.timeoutMs, 2500);
  assert.deepEqual(c.delivery.retry.schedule, [0, 1000, 10_000]);
  assert.deepEqual(c.nats.subjects, ['a.>', 'b.>']);
  assert.equal(c.log.level, 'debug');
});

test('without api tokens hookd refuses to listen beyond loopback', () => {
  assert.throws(
    () => loadConfig(undefined, { HOOKD_HTTP_HOST: '0.0.0.0' }),
    (e: unknown) => e instanceof ConfigError && /no api\.tokens are configured/.test(e.message),
  );
  const c = loadConfig(undefined, {
    HOOKD_HTTP_HOST: '0.0.0.0',
    HOOKD_API_TOKENS: '[{"name":"a","token":"t"}]',
  });
  assert.equal(c.api.tokens[0]!.name, 'a');
});

test('a token taken from an unset environment variable is a config error naming it', () => {
  assert.throws(
    () => loadConfig(undefined, { HOOKD_API_TOKENS: '[{"name":"a","tokenEnv":"NOPE_TOKEN"}]' }),
    /environment variable NOPE_TOKEN is not set/,
  );
});

test('an error caused by an environment override names the variable, not the file line it replaced', () => {
  // The image's default: the shipped config/hookd.yaml with HOOKD_HTTP_HOST=0.0.0.0 and no tokens.
  const problems = (env: NodeJS.ProcessEnv) => {
    try {
      loadConfig('config/hookd.yaml', env);
      return [];
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.message.split('\n');
    }
  };
  const host = problems({ HOOKD_HTTP_HOST: '0.0.0.0' });
  assert.equal(host.length, 1);
  assert.match(host[0]!, /^env HOOKD_HTTP_HOST: http\.host: no api\.tokens are configured/);
  assert.doesNotMatch(host[0]!, /hookd\.yaml/);
  const token = problems({ HOOKD_API_TOKENS: '[{"name":"a","tokenEnv":"NOPE_TOKEN"}]' });
  assert.match(
    token[0]!,
    /^env HOOKD_API_TOKENS: api\.tokens\[0\]\.tokenEnv: environment variable NOPE_TOKEN is not set/,
  );
  // Without the override, the file's own value is pointed at.
  const dirs = makeDirs();
  writeFileSync(dirs.configPath, 'http:\n  host: 0.0.0.0\n');
  const fromFile = (() => {
    try {
      loadConfig(dirs.configPath, {});
      return '';
    } catch (e) {
      return (e as Error).message;
    }
  })();
  dirs.cleanup();
  assert.match(fromFile, /hookd\.yaml:2:9: http\.host: no api\.tokens/);
});

test('store.backend defaults to sqlite with one replica; jetstream is chosen by file or HOOKD_STORE_BACKEND', () => {
  const c = loadConfig(undefined, {});
  assert.equal(c.store.backend, 'sqlite');
  assert.equal(c.store.jetstream.replicas, 1);
  const js = loadConfig(undefined, {
    HOOKD_STORE_BACKEND: 'jetstream',
    HOOKD_STORE_JETSTREAM_REPLICAS: '3',
    HOOKD_NATS_URL: 'nats://127.0.0.1:4333',
  });
  assert.equal(js.store.backend, 'jetstream');
  assert.equal(js.store.jetstream.replicas, 3);
  const dirs = makeDirs();
  writeFileSync(
    dirs.configPath,
    'nats:\n  url: nats://127.0.0.1:4333\nstore:\n  backend: jetstream\n  jetstream:\n    replicas: 3\n',
  );
  const fromFile = loadConfig(dirs.configPath, {});
  dirs.cleanup();
  assert.equal(fromFile.store.backend, 'jetstream');
  assert.equal(fromFile.store.jetstream.replicas, 3);
});

test('store.backend: jetstream without nats.url is a config error naming both, at the line or the variable', () => {
  const message = (file: string | undefined, env: NodeJS.ProcessEnv) => {
    try {
      loadConfig(file, env);
      return '';
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.message;
    }
  };
  assert.match(
    message(undefined, { HOOKD_STORE_BACKEND: 'jetstream' }),
    /^env HOOKD_STORE_BACKEND: store\.backend: jetstream .*needs nats\.url/,
  );
  const dirs = makeDirs();
  writeFileSync(dirs.configPath, 'store:\n  backend: jetstream\n');
  const fromFile = message(dirs.configPath, {});
  assert.match(message(dirs.configPath, { HOOKD_STORE_BACKEND: 'postgres' }), /HOOKD_STORE_BACKEND/);
  dirs.cleanup();
  assert.match(fromFile, /hookd\.yaml:2:12: store\.backend: jetstream .*needs nats\.url/);
  assert.match(message(undefined, { HOOKD_STORE_JETSTREAM_REPLICAS: '0' }), /HOOKD_STORE_JETSTREAM_REPLICAS/);
});
