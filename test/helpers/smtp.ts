/**
 * A real SMTP sink (npm `smtp-server`) on a free loopback port for tests. It
 * stores every accepted message (raw and decoded) and answers by script:
 *   - AUTH: only the configured user/password (535 otherwise);
 *   - RCPT `reject@...` → 550, `defer@...` → 451;
 *   - DATA while `hold` is set: never answered (a hung server).
 * STARTTLS is not offered, so the client talks plain SMTP on loopback.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface MailPart {
  headers: Record<string, string>;
  body: Buffer;
}

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  headers: Record<string, string>;
  text?: string;
  html?: string;
  attachments: { filename: string; contentType: string; content: Buffer }[];
}

export interface SmtpSink {
  port: number;
  user: string;
  password: string;
  messages: ReceivedMail[];
  /** While true, DATA is never answered. */
  hold: boolean;
  stop(): Promise<void>;
}

function parseHeaders(block: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of block.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

function decode(body: string, encoding: string | undefined): Buffer {
  const e = (encoding ?? '7bit').toLowerCase();
  if (e === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64');
  if (e === 'quoted-printable') {
    const soft = body.replace(/=\r\n/g, '');
    const bytes: number[] = [];
    for (let i = 0; i < soft.length; i++) {
      if (soft[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(soft.slice(i + 1, i + 3))) {
        bytes.push(Number.parseInt(soft.slice(i + 1, i + 3), 16));
        i += 2;
      } else bytes.push(soft.charCodeAt(i));
    }
    return Buffer.from(bytes);
  }
  return Buffer.from(body, 'utf8');
}

/** Leaf parts of a MIME message (enough of RFC 2045/2046 for what nodemailer writes). */
export function mimeParts(raw: string): MailPart[] {
  const split = raw.indexOf('\r\n\r\n');
  const headers = parseHeaders(raw.slice(0, split));
  const body = raw.slice(split + 4);
  const boundary = /boundary="?([^";]+)"?/i.exec(headers['content-type'] ?? '')?.[1];
  if (!boundary || !/^multipart\//i.test(headers['content-type'] ?? '')) {
    return [{ headers, body: decode(body, headers['content-transfer-encoding']) }];
  }
  const sections = body.split(`--${boundary}`).slice(1);
  const parts: MailPart[] = [];
  for (const s of sections) {
    if (s.startsWith('--')) break;
    parts.push(...mimeParts(s.replace(/^\r\n/, '').replace(/\r\n$/, '')));
  }
  return parts;
}

function toMail(from: string, to: string[], raw: string): ReceivedMail {
  const split = raw.indexOf('\r\n\r\n');
  const mail: ReceivedMail = { from, to, raw, headers: parseHeaders(raw.slice(0, split)), attachments: [] };
  for (const p of mimeParts(raw)) {
    const type = (p.headers['content-type'] ?? 'text/plain').toLowerCase();
    const disposition = p.headers['content-disposition'] ?? '';
    if (/attachment/i.test(disposition)) {
      const filename = /filename="?([^";]+)"?/i.exec(disposition)?.[1] ?? '';
      mail.attachments.push({ filename, contentType: type.split(';')[0], content: p.body });
    } else if (type.startsWith('text/html')) mail.html = p.body.toString('utf8');
    else if (type.startsWith('text/plain')) mail.text = p.body.toString('utf8');
  }
  return mail;
}

interface Coded extends Error {
  responseCode?: number;
}
const reply = (code: number, text: string): Coded => Object.assign(new Error(text), { responseCode: code });

export async function startSmtp(opts: { user?: string; password?: string } = {}): Promise<SmtpSink> {
  const user = opts.user ?? 'hookd';
  const password = opts.password ?? 'sink-password';
  const sink: SmtpSink = { port: 0, user, password, messages: [], hold: false, stop: async () => {} };
  const server = new SMTPServer({
    logger: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    onAuth(auth, _session, cb) {
      if (auth.username === user && auth.password === password) cb(null, { user });
      else cb(reply(535, 'Authentication credentials invalid'));
    },
    onRcptTo(address, _session, cb) {
      if (address.address.startsWith('reject@')) cb(reply(550, 'No such user here'));
      else if (address.address.startsWith('defer@')) cb(reply(451, 'Try again later'));
      else cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (sink.hold) return;
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        const to = session.envelope.rcptTo.map((r) => r.address);
        sink.messages.push(toMail(from, to, Buffer.concat(chunks).toString('utf8')));
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  sink.port = (server.server.address() as AddressInfo).port;
  sink.stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink;
}
