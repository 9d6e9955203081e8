// Runs the test suite with node:test through tsx, so that nothing hangs.
//
//   node scripts/run-tests.mjs [dir-or-file ...]      (default: test/)
//
// Each test file runs in its own process group (two at a time), under the
// runner's --test-timeout for every test and a wall limit for the whole file:
// a file still running at its limit has its process group killed (every
// peer it started with it) and is reported as failed. A file's spec output
// is printed in one piece when it ends. At the end, each failed test's error
// is printed again without its stack (a log cut to its tail still says why),
// then the failed files; the last line is `N passed, N failed`.
//
// Environment: HOOKD_TEST_CONCURRENCY (files at once, default 2),
// HOOKD_TEST_TIMEOUT_MS (default 300000: node applies --test-timeout to each
// test and also to the file as a whole, so it must exceed the longest file,
// e.g. the 3-node cluster runs take 60-80 s on an idle machine),
// HOOKD_TEST_FILE_LIMIT_MS (per file, default 360000; above the chaos test's own 300 s).
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const concurrency = Math.max(1, Number(process.env.HOOKD_TEST_CONCURRENCY ?? 2));
const testTimeoutMs = Number(process.env.HOOKD_TEST_TIMEOUT_MS ?? 300_000);
const fileLimitMs = Number(process.env.HOOKD_TEST_FILE_LIMIT_MS ?? 360_000);

const roots = process.argv.slice(2).length ? process.argv.slice(2) : ['test'];
const files = [];
for (const root of roots) {
  if (statSync(root).isFile()) files.push(root);
  else
    for (const f of readdirSync(root, { recursive: true }))
      if (String(f).endsWith('.test.ts')) files.push(join(root, String(f)));
}
files.sort();
if (files.length === 0) {
  console.error(`run-tests: no *.test.ts files under ${roots.join(' ')}`);
  process.exit(1);
}

/** Process groups still running, so a Ctrl-C or SIGTERM of this script takes them down too. */
const running = new Set();
const killGroup = (pid) => {
  try {
    process.kill(-pid, 'SIGKILL');
    return true;
  } catch {
    return false; // the group is already gone
  }
};
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    for (const pid of running) killGroup(pid);
    process.exit(130);
  });
}

/** Whether the process group is empty by `withinMs`. */
async function groupGone(pid, withinMs) {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      process.kill(-pid, 0);
    } catch {
      return true;
    }
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const count = (out, name) => {
  const m = new RegExp(`^ℹ ${name} (\\d+)$`, 'm').exec(out);
  return m ? Number(m[1]) : 0;
};

/** Runs one file; resolves with its output and counts. */
function runFile(file) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-timeout=${testTimeoutMs}`, file],
      // detached: a new process group (and session), so one kill reaches every peer the file started.
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.add(child.pid);
    // 'close' (all output read) may come while 'exit' below still waits on the group: note it here,
    // or finishing would wait out the grace period below for every file.
    let closed = false;
    const whenClosed = new Promise((r) => child.once('close', r)).then(() => {
      closed = true;
    });
    let out = '';
    child.stdout.on('data', (b) => {
      out += b;
    });
    child.stderr.on('data', (b) => {
      out += b;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, fileLimitMs);
    child.on('exit', async (code, signal) => {
      clearTimeout(timer);
      running.delete(child.pid);
      // Whatever the file left running in its group goes with it (and is worth saying); helpers
      // such as tsx's esbuild service end on their own a moment after the file.
      const leftovers = !(await groupGone(child.pid, 2000)) && killGroup(child.pid);
      const finish = () => {
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        const pass = count(out, 'pass');
        let fail = count(out, 'fail') + count(out, 'cancelled');
        let note = '';
        if (timedOut) {
          note = `killed at the ${fileLimitMs / 1000} s wall limit for one file (its process group with it)`;
          fail += 1;
        } else if (code !== 0 && fail === 0) {
          note = `exited with ${code ?? signal} before reporting a failure`;
          fail = 1;
        }
        if (leftovers && !timedOut) note += `${note ? '; ' : ''}left processes in its group behind (killed)`;
        resolve({ file, ok: !timedOut && code === 0, pass, fail, seconds, out, note });
      };
      if (closed) return finish();
      // The output pipes close once the group is gone; do not wait on a stray holder for long.
      const grace = setTimeout(finish, 5000);
      void whenClosed.then(() => {
        clearTimeout(grace);
        finish();
      });
    });
  });
}

const results = [];
let next = 0;
async function worker() {
  while (next < files.length) {
    const file = files[next++];
    const r = await runFile(file);
    results.push(r);
    const head = `${r.ok ? '✔' : '✖'} ${r.file} (${r.seconds} s)${r.note ? ` — ${r.note}` : ''}`;
    process.stdout.write(`\n── ${head}\n${r.out.trimEnd()}\n`);
  }
}
const t0 = Date.now();
await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));

/**
 * The failed tests of one file's spec output: each `✖ name` of its `failing
 * tests:` section with the error's first lines, stack frames left out.
 */
function failures(out) {
  const at = out.lastIndexOf('✖ failing tests:');
  if (at < 0) return [];
  const lines = [];
  let kept = 0;
  for (const line of out.slice(at).split('\n').slice(1)) {
    if (/^test at /.test(line) || line.trim() === '') continue;
    if (/^\s+at /.test(line)) continue;
    if (line.startsWith('✖ ')) kept = 0;
    if (kept++ < 8) lines.push(`    ${line}`);
  }
  return lines.slice(0, 80);
}

const failed = results.filter((r) => !r.ok);
for (const r of failed) {
  const why = failures(r.out);
  if (why.length) process.stdout.write(`\n── why ${r.file} failed\n${why.join('\n')}\n`);
}
const pass = results.reduce((n, r) => n + r.pass, 0);
const fail = results.reduce((n, r) => n + r.fail, 0);
console.log(
  `\n${results.length} files in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${failed.length} failed` +
    failed.map((r) => `\n  ✖ ${r.file}${r.note ? ` — ${r.note}` : ''}`).join(''),
);
console.log(`${pass} passed, ${fail} failed`);
process.exit(failed.length ? 1 : 0);
