/**
 * Issue 16 (Docker): the image runs compiled JavaScript on the current Node
 * LTS without dev tools; its default command fails naming the environment
 * variable that causes the error; its HEALTHCHECK follows the configured
 * host and port. There is no Docker engine on the test machine, so the
 * Dockerfile is linted (dockerfile-utils) and its exact command and
 * healthcheck are run here, from the repository laid out as in the image.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { validate } from 'dockerfile-utils';
import { healthUrl } from '../../src/config/health-url.ts';
import { NODE_API_FROM_MAJOR } from '../../src/outbox/sqlite/driver.ts';
import { makeDirs } from '../helpers/hookd.ts';
import { freePort } from '../helpers/ports.ts';
import { GiveUp, waitFor } from '../helpers/wait.ts';

const ROOT = join(import.meta.dirname, '../..');
const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  optionalDependencies: Record<string, string>;
};

/** The Dockerfile's instructions, continuation lines joined. */
const instructions = DOCKERFILE.replace(/\\\n/g, ' ')
  .split('\n')
  .filter((l) => l.trim() && !l.trim().startsWith('#'))
  .map((l) => {
    const [op = '', ...rest] = l.trim().split(/\s+/);
    return { op: op.toUpperCase(), args: rest.join(' ') };
  });
const all = (op: string) => instructions.filter((i) => i.op === op).map((i) => i.args);
const last = (op: string) => all(op).at(-1) ?? '';

/** The runtime stage's ENV (`ENV A=1 B=2`). */
function imageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  const runtime = DOCKERFILE.slice(DOCKERFILE.lastIndexOf('\nFROM '));
  for (const line of runtime.split('\n'))
    if (line.startsWith('ENV ')) for (const [, k, v] of line.slice(4).matchAll(/(\w+)=(\S+)/g)) env[k!] = v!;
  return env;
}

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

test('the Dockerfile lints clean (dockerfile-utils, the validator of the VS Code Docker extension)', () => {
  const problems = validate(DOCKERFILE).map((d) => `${d.range.start.line + 1}: ${d.message}`);
  assert.deepEqual(problems, []);
});

test('the image is the current Node LTS (24), runs compiled JavaScript, and ships no dev tools', () => {
  const bases = all('FROM');
  assert.equal(bases.length, 2);
  for (const b of bases) assert.match(b, /^node:24-bookworm(-slim)?( AS build)?$/, b);
  assert.match(PKG.engines.node, /\^24\./, 'engines names the Node the image runs');
  assert.ok(all('RUN').some((r) => /npm run build && npm prune --omit=dev/.test(r)));
  for (const dev of ['tsx', 'typescript', 'cloudevents', 'dockerfile-utils']) {
    assert.equal(PKG.dependencies[dev], undefined, `${dev} is not a runtime dependency`);
    assert.ok(PKG.devDependencies[dev], `${dev} is a dev dependency (pruned from the image)`);
  }
  // Node 24 runs the Node-API build of better-sqlite3 (12.x aborts there): it must be installable.
  const major = Number(/^node:(\d+)/.exec(bases.at(-1)!)?.[1]);
  assert.ok(major >= NODE_API_FROM_MAJOR);
  assert.match(PKG.optionalDependencies['better-sqlite3-napi'] ?? '', /^npm:better-sqlite3@\^13/);
  assert.deepEqual(JSON.parse(last('ENTRYPOINT')), ['node', 'bin/hookd.js']);
  assert.match(last('HEALTHCHECK'), /CMD \["node", "bin\/healthcheck\.js"\]$/);
});

test('the image’s default command exits 1 naming HOOKD_HTTP_HOST, not the file line it replaced', () => {
  const dirs = makeDirs();
  try {
    const [node, ...entry] = JSON.parse(last('ENTRYPOINT')) as string[];
    assert.equal(node, 'node');
    const cmd = JSON.parse(last('CMD')) as string[];
    const r = spawnSync(process.execPath, [...entry, ...cmd], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...imageEnv(), HOOKD_STORE_PATH: dirs.storePath },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^env HOOKD_HTTP_HOST: http\.host: no api\.tokens are configured/m);
    assert.doesNotMatch(r.stderr, /hookd\.yaml:\d+/);
  } finally {
    dirs.cleanup();
  }
});

test('the HEALTHCHECK probes the host and port hookd listens on, from its config and HOOKD_* variables', async () => {
  assert.equal(healthUrl({ host: '0.0.0.0', port: 8480 }), 'http://127.0.0.1:8480/healthz');
  assert.equal(healthUrl({ host: '::', port: 1 }), 'http://[::1]:1/healthz');
  assert.equal(healthUrl({ host: '[::1]', port: 1 }), 'http://[::1]:1/healthz');
  assert.equal(healthUrl({ host: '127.0.0.3', port: 2 }), 'http://127.0.0.3:2/healthz');

  const dirs = makeDirs();
  const [port, otherPort] = [await freePort(), await freePort()];
  // Host and port only in the file (a loopback address other than 127.0.0.1).
  writeFileSync(dirs.configPath, `http:\n  host: 127.0.0.3\n  port: ${port}\n`);
  const env = { PATH: process.env.PATH, HOOKD_STORE_PATH: dirs.storePath, HOOKD_LOG_LEVEL: 'warn' };
  const check = (extra: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['bin/healthcheck.js', '--config', dirs.configPath], {
      cwd: ROOT,
      env: { ...env, ...extra },
      encoding: 'utf8',
      timeout: 60_000,
    });
  assert.equal(check().status, 1, 'nothing listens yet');
  let output = '';
  const child = spawn(
    process.execPath,
    ['bin/hookd.js', 'run', '--config', dirs.configPath, '--rules', dirs.rulesDir],
    {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  child.stdout!.on('data', (b: Buffer) => (output += b));
  child.stderr!.on('data', (b: Buffer) => (output += b));
  try {
    await waitFor(
      'the healthcheck to pass against hookd on 127.0.0.3',
      () => {
        if (child.exitCode !== null) throw new GiveUp(`hookd exited ${child.exitCode}: ${output}`);
        const r = check();
        return r.status === 0 || undefined;
      },
      { intervalMs: 200, saw: () => `${check().stderr}\nhookd: ${output}` },
    );
    const elsewhere = check({ HOOKD_HTTP_PORT: String(otherPort) });
    assert.equal(elsewhere.status, 1, 'an override of the port is followed too');
    assert.match(elsewhere.stderr, new RegExp(`127\\.0\\.0\\.3:${otherPort}`));
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(null)));
    dirs.cleanup();
  }
});
