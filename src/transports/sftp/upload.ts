/**
 * Atomic upload over SFTP: write to a hidden temporary name in the target
 * directory, fsync when the server offers it, then rename onto the final
 * name (POSIX rename when the server offers it, so an existing file is
 * replaced in one step). A reader never sees a partial file under the final
 * name; a failed or aborted upload removes its temporary file when the
 * connection still allows it.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { SFTPWrapper, Stats } from 'ssh2';
import { SendAbortedError } from '../abort.ts';

/** Bytes per SFTP write request and how many are in flight at once. */
const CHUNK = 32 * 1024;
const WINDOW = 8;

type Cb<T> = (err: Error | undefined | null, value?: T) => void;
const call = <T>(fn: (cb: Cb<T>) => void): Promise<T> =>
  new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T))));

/**
 * Whether requests on this SFTP session can still be answered: ssh2 accepts
 * requests on a closed channel and never calls back, so cleanup after a lost
 * connection must not wait on them.
 */
export function sessionOpen(sftp: SFTPWrapper): boolean {
  // `outgoing` is ssh2's channel state (not in its typings).
  const state = (sftp as unknown as { outgoing?: { state?: string } }).outgoing?.state;
  return state === undefined || state === 'open';
}

/** Best-effort cleanup: skipped on a closed session, and never waits longer than `ms`. */
function bestEffort(
  sftp: SFTPWrapper,
  alive: () => boolean,
  fn: (cb: Cb<void>) => void,
  ms = 2_000,
): Promise<void> {
  if (!alive() || !sessionOpen(sftp)) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    fn(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const stat = (s: SFTPWrapper, p: string) => call<Stats>((cb) => s.stat(p, cb));

/** Creates `dir` and its missing parents (tolerating a concurrent creator). */
export async function mkdirp(sftp: SFTPWrapper, dir: string): Promise<void> {
  try {
    if ((await stat(sftp, dir)).isDirectory()) return;
  } catch (err) {
    if ((err as { code?: unknown }).code !== 2) throw err;
  }
  let current = dir.startsWith('/') ? '/' : '';
  for (const part of dir.split('/').filter((p) => p !== '' && p !== '.')) {
    current = current === '' ? part : posix.join(current, part);
    try {
      await call<void>((cb) => sftp.mkdir(current, cb));
    } catch (err) {
      const st = await stat(sftp, current).catch(() => undefined);
      if (!st?.isDirectory()) throw err;
    }
  }
}

function writeAll(sftp: SFTPWrapper, handle: Buffer, data: Buffer, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (data.length === 0) return resolve();
    let offset = 0;
    let inflight = 0;
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      reject(err);
    };
    const pump = () => {
      if (failed) return;
      if (signal.aborted) return fail(new SendAbortedError(signal));
      while (inflight < WINDOW && offset < data.length) {
        const pos = offset;
        const len = Math.min(CHUNK, data.length - pos);
        offset += len;
        inflight++;
        sftp.write(handle, data, pos, len, pos, (err) => {
          inflight--;
          if (err) return fail(err);
          if (offset >= data.length && inflight === 0) {
            if (!failed) resolve();
          } else pump();
        });
      }
    };
    pump();
  });
}

/**
 * Whether the server announced an SFTP extension (`posix-rename@openssh.com`,
 * `fsync@openssh.com`). Asked before use, not guessed from an error's text:
 * ssh2 refuses an unannounced extension with its own wording.
 */
export function hasExtension(sftp: SFTPWrapper, name: string): boolean {
  // `_extensions` is what the server's SSH_FXP_VERSION announced (not in ssh2's typings).
  const ext = (sftp as unknown as { _extensions?: Record<string, string> })._extensions;
  return ext?.[name] === '1';
}

/** Replaces `to` with `from` in one step where the server allows it. */
async function renameOver(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  if (hasExtension(sftp, 'posix-rename@openssh.com')) {
    await call<void>((cb) => sftp.ext_openssh_rename(from, to, cb));
    return;
  }
  // Not offered by this server: plain SFTP rename, which refuses to replace an existing file.
  try {
    await call<void>((cb) => sftp.rename(from, to, cb));
  } catch (err) {
    const exists = await stat(sftp, to).then(
      () => true,
      () => false,
    );
    if (!exists) throw err;
    // A retry of a delivery that already landed: replace it (not atomic on such servers).
    await call<void>((cb) => sftp.unlink(to, cb));
    await call<void>((cb) => sftp.rename(from, to, cb));
  }
}

export interface UploadOptions {
  directory: string;
  fileName: string;
  createDirectories: boolean;
  /** Tag in the temporary name, for operators reading a listing. */
  tag: string;
  signal: AbortSignal;
  /** False once the SSH connection is gone (cleanup is then skipped). */
  alive: () => boolean;
}

/** The hidden temporary name an upload of `fileName` uses (pollers matching `*.json` skip it). */
export function tempName(fileName: string, tag: string): string {
  return `.${fileName}.${tag}-${randomBytes(4).toString('hex')}.part`;
}

/** Uploads `data` to `directory/fileName`; returns the final path. */
export async function upload(sftp: SFTPWrapper, data: Buffer, o: UploadOptions): Promise<string> {
  if (o.directory !== '' && o.createDirectories) await mkdirp(sftp, o.directory);
  const final = o.directory === '' ? o.fileName : posix.join(o.directory, o.fileName);
  const temp =
    o.directory === '' ? tempName(o.fileName, o.tag) : posix.join(o.directory, tempName(o.fileName, o.tag));
  o.signal.throwIfAborted();
  const handle = await call<Buffer>((cb) => sftp.open(temp, 'w', { mode: 0o644 }, cb));
  let open = true;
  try {
    await writeAll(sftp, handle, data, o.signal);
    // Durable before it becomes visible; servers without fsync@openssh.com skip this.
    if (hasExtension(sftp, 'fsync@openssh.com')) {
      await call<unknown>((cb) => sftp.ext_openssh_fsync(handle, cb)).catch(() => {});
    }
    open = false;
    await call<void>((cb) => sftp.close(handle, cb));
    o.signal.throwIfAborted();
    await renameOver(sftp, temp, final);
    return final;
  } catch (err) {
    // Best effort: on a dead connection these cannot run, and the temp name stays hidden.
    if (open) await bestEffort(sftp, o.alive, (cb) => sftp.close(handle, cb));
    await bestEffort(sftp, o.alive, (cb) => sftp.unlink(temp, cb));
    throw err;
  }
}
