/**
 * The `sftp` transport (aliases `sftp-document`, `sftp-email`; seed 000):
 * uploads the rendered body (or a templated `content`) as one file per
 * delivery to a templated directory and file name, atomically, over pooled
 * SSH connections whose host key is verified.
 */
import { z } from 'zod';
import { abortedResult, raceSignal } from '../abort.ts';
import type { Delivery, HostContext, SendResult, TransportInstance, TransportModule } from '../contract.ts';
import { success } from '../contract.ts';
import { renderedField } from '../fields.ts';
import { findRefusal, NetworkGuard } from '../net/guard.ts';
import { classifySftpError, SftpConfigError } from './classify.ts';
import { type Connection, SftpPool } from './pool.ts';
import { upload } from './upload.ts';

const Fingerprint = z
  .string()
  .regex(
    /^SHA256:[A-Za-z0-9+/]{43}=?$/,
    'a SHA256 host key fingerprint such as SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8',
  );

export const SftpDataSchema = z
  .strictObject({
    host: z.string().min(1),
    /** @default 22 */
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().min(1),
    /** Write-only. */
    password: z.string().min(1).optional(),
    /** OpenSSH or PEM private key; write-only. */
    privateKey: z.string().min(1).optional(),
    /** For an encrypted `privateKey`; write-only. */
    passphrase: z.string().min(1).optional(),
    /** The server's host key fingerprint (`ssh-keygen -lf key.pub`); deliveries fail until it is set or skipping is explicit. */
    hostKey: Fingerprint.optional(),
    /** Accept any host key (man-in-the-middle exposed): only for test servers. */
    insecureSkipHostKeyVerification: z.boolean().default(false),
    /** Template: the target directory (relative to the login directory unless absolute). */
    directory: z.string().default(''),
    /** Template: the file name. @default "<event id>.json" */
    fileName: z.string().min(1).optional(),
    /** Template: what to write instead of the rendered body, e.g. `{/data/document}`. */
    content: z.string().min(1).optional(),
    /** How `content` is encoded. @default "utf8" */
    contentEncoding: z.enum(['utf8', 'base64']).default('utf8'),
    /** Create missing directories. @default true */
    createDirectories: z.boolean().default(true),
  })
  .refine((d) => d.password !== undefined || d.privateKey !== undefined, {
    message: 'give a password or a privateKey',
    path: ['password'],
  });
export type SftpData = z.output<typeof SftpDataSchema>;

/** A rendered path part: a string (numbers are fine), never `..`, never NUL. */
function pathField(value: unknown, name: string): string {
  if (value === null || value === undefined) {
    throw new SftpConfigError(`the ${name} template found no value in the event`);
  }
  const s = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
  if (s === undefined)
    throw new SftpConfigError(`the ${name} template rendered a ${typeof value}, not a string`);
  if (s.includes('\0')) throw new SftpConfigError(`the rendered ${name} contains a NUL character`);
  if (s.split('/').includes('..'))
    throw new SftpConfigError(`the rendered ${name} "${s}" contains a ".." segment`);
  return s;
}

function fileNameOf(d: Delivery, data: SftpData): string {
  const rendered = renderedField(d, data, 'fileName');
  // Default: the event id, made safe for a file name.
  const name =
    rendered === undefined ? `${d.eventId.replace(/[/\\\0]/g, '_')}.json` : pathField(rendered, 'fileName');
  if (name === '' || name === '.' || name.includes('/')) {
    throw new SftpConfigError(`the rendered fileName "${name}" is not a plain file name`);
  }
  return name;
}

function contentOf(d: Delivery, data: SftpData): Buffer {
  if (data.content === undefined) return Buffer.from(d.request.body, 'utf8');
  const v = renderedField(d, data, 'content');
  if (v === null || v === undefined)
    throw new SftpConfigError('the content template found no value in the event');
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  if (data.contentEncoding === 'base64') {
    if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(s))
      throw new SftpConfigError('the rendered content is not base64');
    return Buffer.from(s, 'base64');
  }
  return Buffer.from(s, 'utf8');
}

/** How long a cleanup after an abort may take before the connection counts as stuck and is closed. */
const ABORT_CLEANUP_MS = 5_000;

export function createSftp(ctx: HostContext, opts: { idleMs?: number } = {}): TransportInstance {
  const guard = new NetworkGuard(ctx.security, ctx.network);
  const pool = new SftpPool({ guard, handshakeTimeoutMs: ctx.timeoutMs, idleMs: opts.idleMs });
  return {
    async send(d: Delivery, signal: AbortSignal): Promise<SendResult> {
      let data: SftpData;
      let directory: string;
      let fileName: string;
      let body: Buffer;
      try {
        data = SftpDataSchema.parse(d.webhook.data);
        // An empty directory (the default) is the login directory, rendered or not.
        directory = data.directory === '' ? '' : pathField(renderedField(d, data, 'directory'), 'directory');
        fileName = fileNameOf(d, data);
        body = contentOf(d, data);
      } catch (err) {
        if (err instanceof z.ZodError)
          return classifySftpError(
            new SftpConfigError(`invalid sftp data: ${err.issues[0]?.message}`),
            'sftp',
          );
        return classifySftpError(err, 'sftp');
      }
      if (signal.aborted) return abortedResult(signal);
      let conn: Connection;
      try {
        conn = await pool.acquire(data, signal);
      } catch (err) {
        if (signal.aborted) return abortedResult(signal);
        const refused = findRefusal(err);
        if (refused) return classifySftpError(new SftpConfigError(refused.message), 'connect');
        return classifySftpError(err, `connect to ${data.host}:${data.port}`);
      }
      const work = upload(conn.sftp, body, {
        directory,
        fileName,
        createDirectories: data.createDirectories,
        tag: d.id.slice(0, 8),
        signal,
        alive: () => !conn.closed,
      });
      // The upload is released when it settles, however the send ends.
      const settled = work.then(
        () => undefined,
        () => undefined,
      );
      void settled.then(() => pool.release(conn));
      try {
        const path = await raceSignal(work, signal);
        return success(undefined, `uploaded ${path} (${body.length} bytes)`);
      } catch (err) {
        if (signal.aborted) {
          // The upload stops at its next write and removes its temp file; a connection too stuck for that is closed.
          const stuck = setTimeout(() => pool.discard(conn), ABORT_CLEANUP_MS);
          stuck.unref();
          void settled.then(() => clearTimeout(stuck));
          return abortedResult(signal);
        }
        if (conn.closed && typeof (err as { code?: unknown }).code !== 'number') {
          return classifySftpError(err, 'upload (connection lost)');
        }
        return classifySftpError(err, 'upload');
      }
    },
    close: () => pool.close(),
  };
}

export const sftpTransport: TransportModule<SftpData> = {
  types: ['sftp', 'sftp-document', 'sftp-email'],
  dataSchema: SftpDataSchema,
  secretFields: ['password', 'privateKey', 'passphrase'],
  templateFields: ['directory', 'fileName', 'content'],
  create: (ctx) => createSftp(ctx),
};
