/**
 * The chaos run in its short form, for CI (issue 6 and issue 15, acceptance
 * 4): 2,000 events to five webhooks with flapping receivers, `kills`
 * SIGKILLs of hookd (replica A), one nats-server restart and a 3 s receiver
 * outage. The script is run as a child process, exactly as `npm run chaos`
 * runs it (with `args`); it must exit 0 and report every expected delivery
 * arrived, duplicates only with the same webhook-id.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const EVENTS = 2000;

export async function shortChaosRun(args: string[], kills: number): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/chaos/chaos.ts', ...args], {
    cwd: join(import.meta.dirname, '../..'),
    env: {
      ...process.env,
      CHAOS_EVENTS: String(EVENTS),
      CHAOS_RATE: '400',
      CHAOS_KILLS: String(kills),
      CHAOS_NATS_RESTARTS: '1',
      CHAOS_OUTAGE_MS: '3000',
      // Fail with a verdict rather than be cut off by the test timeout.
      CHAOS_DEADLINE_MS: '240000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => {
    stdout += b.toString();
  });
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));

  const lines = stdout.trim().split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `exactly one summary line on stdout:\n${stdout}\n--- stderr:\n${stderr}`);
  const m =
    /^chaos: events published (\d+), deliveries expected (\d+), delivered (\d+), lost (\d+), duplicates (\d+) \(all with the same webhook-id: (yes|no)\)$/.exec(
      lines[0]!,
    );
  assert.ok(m, `the summary line has the documented shape: ${lines[0]}`);
  const [, published, expected, delivered, lost, , sameId] = m;
  assert.equal(Number(published), EVENTS, 'every event was published');
  // Two to three webhooks want each event type (see WANTS in chaos.ts): 2.4 per event on average.
  assert.equal(Number(expected), (EVENTS * 12) / 5);
  assert.equal(Number(lost), 0, stderr);
  assert.equal(Number(delivered), Number(expected));
  assert.equal(sameId, 'yes', 'duplicates carry the same webhook-id');
  assert.equal(code, 0, stderr);
  console.log(`# ${lines[0]}`);
  const took = stderr.split('\n').find((l) => l.includes('] took '));
  console.log(`# ${took?.replace(/^\[.*?\] /, '')}`);
}
