/**
 * CPU time of one thread of this process, from Linux's /proc. The budget of
 * an evaluation is wall time, but a machine busy with other work can leave
 * the worker thread without a CPU for longer than the budget; the watchdog
 * asks how much CPU the thread actually used before it blames the
 * evaluation. Elsewhere (no /proc) these return undefined and the budget
 * is wall time alone.
 */
import { readFileSync, readlinkSync } from 'node:fs';

/** Clock ticks per second of /proc's utime and stime (USER_HZ; 100 on every Linux build in use). */
const TICKS_PER_SECOND = 100;

/** The Linux thread id of the calling thread. */
export function ownThreadId(): number | undefined {
  try {
    // "/proc/thread-self" → "<pid>/task/<tid>"
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/** User + system CPU milliseconds thread `tid` of this process has used (10 ms resolution). */
export function threadCpuMs(tid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
    // Fields after the command name in parentheses (which may itself hold spaces): state is field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[14 - 3]);
    const stime = Number(fields[15 - 3]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
    return ((utime + stime) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}
