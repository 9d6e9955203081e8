/**
 * Issue 13, failure 4, measured: 8 unauthenticated 15 MB POSTs to
 * `/v1/events` at once; prints the time to the last 401 and hookd's RSS
 * before and after. With the token checked after the body parser the bodies
 * were buffered (RSS 146 → 402 MiB, 1.3 s); checked on the headers, RSS stays
 * flat. Run: `node --import tsx test/bench/unauthenticated-bodies.bench.ts`.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { makeDirs, spawnHookd } from '../helpers/hookd.ts';

const REQUESTS = 8;
const BYTES = 15_000_000;

const rssMiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

const dirs = makeDirs();
const hookd = await spawnHookd(dirs, {
  HOOKD_API_TOKENS: JSON.stringify([{ name: 'a', token: 't', permissions: ['EVENTS:PUBLISH'] }]),
});
try {
  const pid = hookd.child.pid!;
  const before = rssMiB(pid);
  const body = Buffer.alloc(BYTES, 'a');
  const t0 = performance.now();
  const answers = await Promise.all(
    Array.from(
      { length: REQUESTS },
      () =>
        new Promise<{ status: number | string; ms: number }>((resolve) => {
          const req = request(
            `${hookd.url}/v1/events`,
            { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': BYTES } },
            (res) => {
              res.resume();
              resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 });
              req.destroy();
            },
          );
          // hookd answers 401 and closes the connection: a client still sending may see the close first.
          req.on('error', () => resolve({ status: 'closed while sending', ms: performance.now() - t0 }));
          req.end(body);
        }),
    ),
  );
  console.log(
    JSON.stringify({
      requests: REQUESTS,
      bytesEach: BYTES,
      statuses: [...new Set(answers.map((a) => a.status))],
      answeredWithinMs: Math.round(Math.max(...answers.map((a) => a.ms))),
      rssBeforeMiB: Math.round(before),
      rssAfterMiB: Math.round(rssMiB(pid)),
    }),
  );
} finally {
  hookd.child.kill('SIGTERM');
  await hookd.exited;
  dirs.cleanup();
}
