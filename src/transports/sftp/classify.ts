/**
 * SSH and SFTP failures mapped to the dispatcher's outcome: wrong host key,
 * rejected credentials and SFTP "no such file" / "permission denied" will not
 * fix themselves (permanent); refused or dropped connections, timeouts and
 * generic server failures may (retryable).
 */
import { permanent, retryable, type SendResult } from '../contract.ts';

/** SFTP status codes (draft-ietf-secsh-filexfer-02, section 7). */
const SFTP_STATUS: Record<number, { name: string; permanent: boolean }> = {
  2: { name: 'no such file or directory', permanent: true },
  3: { name: 'permission denied', permanent: true },
  4: { name: 'failure', permanent: false },
  5: { name: 'bad message', permanent: true },
  6: { name: 'no connection', permanent: false },
  7: { name: 'connection lost', permanent: false },
  8: { name: 'operation unsupported', permanent: true },
};

/** Thrown for problems found before talking to the server (bad rendered path, missing host key). */
export class SftpConfigError extends Error {
  readonly code = 'HOOKD_SFTP_CONFIG';
}

/** The server presented a host key other than the configured fingerprint. */
export class HostKeyMismatchError extends Error {
  readonly code = 'HOOKD_SFTP_HOST_KEY';
  constructor(
    readonly presented: string,
    readonly expected: string,
  ) {
    super(`host key mismatch: the server presented ${presented}, expected ${expected}`);
  }
}

export function classifySftpError(err: unknown, what: string): SendResult {
  if (err instanceof SftpConfigError || err instanceof HostKeyMismatchError) return permanent(err.message);
  const e = err as { code?: unknown; level?: string; message?: string };
  const message = e.message ?? String(err);
  if (e.level === 'client-authentication') {
    return permanent(`SSH login rejected: the server refused the configured credentials (${message})`);
  }
  if (e.level === 'client-timeout') return retryable(`SSH handshake timed out: ${message}`);
  if (typeof e.code === 'number' && SFTP_STATUS[e.code]) {
    const s = SFTP_STATUS[e.code];
    const text = `${what} failed: ${s.name} (${message})`;
    return s.permanent ? permanent(text) : retryable(text);
  }
  if (typeof e.code === 'string') return retryable(`${e.code}: ${message}`);
  return retryable(`${what} failed: ${message}`);
}
