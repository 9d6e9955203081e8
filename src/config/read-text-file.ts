/**
 * Reads a config or rule file as UTF-8 text, safely: only a regular file is
 * read (a FIFO would block forever, a directory or device is not a file), a
 * size limit applies, invalid UTF-8 is refused with its position rather than
 * replaced, and every filesystem error becomes a problem naming the file
 * (`file: message`), never an exception. The async form has a read timeout
 * and keeps the event loop free (the daemon's reload); `hookd check` and
 * start-up use the sync form.
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  readlinkSync,
  type Stats,
} from 'node:fs';
import { open } from 'node:fs/promises';
import type { Problem } from './problems.ts';

/** The largest config or rule file read (100,000 webhooks fit in far less). */
export const MAX_FILE_BYTES = 32 * 1024 * 1024;

/** Never blocks in open(2), even on a FIFO without a writer. */
const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

export type TextFile = { ok: true; text: string } | { ok: false; problem: Problem };

/** A problem without a position in the file: formatted `file: message`. */
export const fileProblem = (file: string, message: string): Problem => ({ file, line: 0, col: 0, message });

function kind(s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  return 'not a file';
}

/** Why a file cannot be opened, in words (a symlink loop, a dangling link, a missing file...). */
export function describeFsError(file: string, err: unknown): Problem {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ELOOP':
      return fileProblem(file, 'symbolic link loop');
    case 'ENOENT': {
      try {
        if (lstatSync(file).isSymbolicLink()) {
          return fileProblem(file, `dangling symbolic link to ${readlinkSync(file)}`);
        }
      } catch {}
      return fileProblem(file, 'no such file');
    }
    case 'EACCES':
    case 'EPERM':
      return fileProblem(file, 'permission denied');
    case 'ENAMETOOLONG':
      return fileProblem(file, 'file name too long');
    default:
      return fileProblem(file, `cannot read: ${e.code ? `${e.code} ` : ''}${e.message ?? String(err)}`);
  }
}

function checkStats(file: string, s: Stats): Problem | undefined {
  if (!s.isFile()) return fileProblem(file, `not a regular file (${kind(s)}); only regular files are read`);
  if (s.size > MAX_FILE_BYTES) {
    return fileProblem(file, `too large (${s.size} bytes; at most ${MAX_FILE_BYTES} bytes are read)`);
  }
  return undefined;
}

/** The offset of the first byte that does not start a valid UTF-8 sequence, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    let n = 0;
    let min = 0;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      min = 0x10000;
    } else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

/** The text of `buf`, or a problem at the line and column of its first invalid UTF-8 byte. */
export function decodeUtf8(file: string, buf: Buffer): TextFile {
  try {
    // A leading BOM is dropped (ignoreBOM false).
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(buf) };
  } catch {}
  const bad = Math.max(0, firstInvalidUtf8(buf));
  const before = buf.subarray(0, bad).toString('utf8');
  const line = before.split('\n').length;
  const col = before.length - before.lastIndexOf('\n');
  return {
    ok: false,
    problem: {
      file,
      line,
      col,
      message: `not UTF-8 (byte 0x${buf[bad]!.toString(16).padStart(2, '0')} at offset ${bad}); save the file as UTF-8`,
    },
  };
}

export function readTextFileSync(file: string): TextFile {
  let fd: number;
  try {
    fd = openSync(file, FLAGS);
  } catch (err) {
    return { ok: false, problem: describeFsError(file, err) };
  }
  try {
    const problem = checkStats(file, fstatSync(fd));
    if (problem) return { ok: false, problem };
    return decodeUtf8(file, readFileSync(fd));
  } catch (err) {
    return { ok: false, problem: describeFsError(file, err) };
  } finally {
    closeSync(fd);
  }
}

/** Like `readTextFileSync`, off the event loop, giving up after `timeoutMs`. */
export async function readTextFile(file: string, timeoutMs: number): Promise<TextFile> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, FLAGS);
  } catch (err) {
    return { ok: false, problem: describeFsError(file, err) };
  }
  try {
    const problem = checkStats(file, await handle.stat());
    if (problem) return { ok: false, problem };
    return decodeUtf8(file, await handle.readFile({ signal: AbortSignal.timeout(timeoutMs) }));
  } catch (err) {
    if ((err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError') {
      return { ok: false, problem: fileProblem(file, `reading timed out after ${timeoutMs} ms`) };
    }
    return { ok: false, problem: describeFsError(file, err) };
  } finally {
    await handle.close();
  }
}
