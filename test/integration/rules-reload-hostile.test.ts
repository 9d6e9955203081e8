/**
 * Issue 13, failure 6: a FIFO named `*.yaml` in `rules/` hung the running
 * daemon on reload (`/healthz` unanswered): files were chosen by name and read
 * synchronously. Now only regular files are read, off the event loop with a
 * timeout; the reload is refused with the path, the old rules stay in force,
 * and `/healthz` keeps answering.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type HookdProcess, makeDirs, spawnHookd, type TestDirs } from '../helpers/hookd.ts';
import { GiveUp, waitFor } from '../helpers/wait.ts';

let dirs: TestDirs;
let hookd: HookdProcess;

before(async () => {
  dirs = makeDirs({ 'good.yaml': 'webhooks:\n  - identifier: good\n    url: http://127.0.0.1:9/good\n' });
  hookd = await spawnHookd(dirs, { HOOKD_LOG_LEVEL: 'info' });
});

after(async () => {
  hookd?.child.kill('SIGKILL');
  await hookd?.exited;
  dirs?.cleanup();
});

test('a FIFO in rules/ is refused on reload with its path while /healthz keeps answering', async () => {
  const fifo = join(dirs.rulesDir, 'x.yaml');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  hookd.child.kill('SIGHUP');
  let healthz = 0;
  await waitFor(
    '"rules reload failed" in the log, /healthz answering all along',
    async () => {
      // Each probe has its own deadline: a daemon blocked on the FIFO never answers.
      const r = await fetch(`${hookd.url}/healthz`, { signal: AbortSignal.timeout(10_000) }).catch(
        (err: Error) => err,
      );
      if (r instanceof Error || r.status !== 200) {
        throw new GiveUp(`/healthz did not answer within 10 s after the FIFO appeared: ${r}`);
      }
      healthz++;
      return hookd.output().includes('rules reload failed');
    },
    { saw: () => `${healthz} /healthz answered; output:\n${hookd.output()}` },
  );
  assert.match(hookd.output(), new RegExp(`${fifo}: not a regular file \\(a FIFO\\)`));
  const ready = await fetch(`${hookd.url}/readyz`);
  assert.equal(ready.status, 200, 'the old rules stay in force');
});
