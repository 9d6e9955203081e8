/**
 * Durations are written with a unit (`200ms`, `5s`, `5m`, `2h`, `1d`); a bare
 * number is milliseconds. DESIGN.md section 1.
 */
import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Parses `5s` into 5000; returns undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const m = PATTERN.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNITS[m[2]!]!);
}

/** A duration with a unit, or a number of milliseconds; the output is milliseconds. */
export const DurationSchema = z.union([z.number().min(0), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `"${v}" is not a duration; write it with a unit such as 200ms, 5s, 5m or 2h`,
    });
    return z.NEVER;
  }
  return ms;
});
