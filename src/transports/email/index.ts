/**
 * The `email` transport: one SMTP message per delivery through nodemailer.
 * Recipients, subject, body and attachments are templates rendered when the
 * delivery is stored (`request.fields`); the body defaults to the rendered
 * request body. The connection goes through the SSRF guard (nodemailer's
 * `getSocket`), TLS certificates are verified, and each send opens its own
 * SMTP connection (no pool: a message per delivery, retries per attempt).
 */
import nodemailer from 'nodemailer';
import type { SendMailOptions } from 'nodemailer/lib/mailer';
import type { SMTPTransportOptions } from 'nodemailer/lib/smtp-transport';
import { z } from 'zod';
import { abortedResult } from '../abort.ts';
import type { Delivery, HostContext, SendResult, TransportInstance, TransportModule } from '../contract.ts';
import { permanent, retryable, success } from '../contract.ts';
import { renderedField } from '../fields.ts';
import { findRefusal, NetworkGuard } from '../net/guard.ts';

const Addresses = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const AttachmentSchema = z.strictObject({
  /** Template: the attachment's file name, e.g. `invoice-{/data/number}.pdf`. */
  filename: z.string().min(1),
  /** Template: the content, usually one pointer such as `{/data/document}` holding base64. */
  content: z.string().min(1),
  /** How the rendered `content` is encoded. @default "base64" */
  encoding: z.enum(['base64', 'utf8']).default('base64'),
  /** MIME type; guessed from the file name when absent. */
  contentType: z.string().min(1).optional(),
});

export const EmailDataSchema = z.strictObject({
  host: z.string().min(1),
  /** @default 465 when `secure`, else 587 */
  port: z.number().int().min(1).max(65535).optional(),
  /** Implicit TLS from the first byte (SMTPS, usually port 465). @default false */
  secure: z.boolean().default(false),
  /** Without `secure`: insist on STARTTLS (fail rather than send in clear text). @default false */
  requireTLS: z.boolean().default(false),
  auth: z.strictObject({ user: z.string().min(1), pass: z.string().min(1) }).optional(),
  /** Template: the sender, e.g. `"Shop" <noreply@example.com>`. */
  from: z.string().min(1),
  /** Templates: recipients (a string with commas, or a list). */
  to: Addresses,
  cc: Addresses.optional(),
  bcc: Addresses.optional(),
  replyTo: z.string().min(1).optional(),
  /** Template. @default the event type */
  subject: z.string().optional(),
  /** Templates: the plain text and/or HTML body; without both, the rendered body is the text. */
  text: z.string().optional(),
  html: z.string().optional(),
  attachments: z.array(AttachmentSchema).optional(),
});
export type EmailData = z.output<typeof EmailDataSchema>;

class EmailFieldError extends Error {}

function text(v: unknown, name: string, required: boolean): string | undefined {
  if (v === undefined || v === null || v === '') {
    if (required) throw new EmailFieldError(`the ${name} template found no value in the event`);
    return undefined;
  }
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v);
}

function addresses(v: unknown, name: string, required: boolean): string[] | undefined {
  const list = (Array.isArray(v) ? v : [v]).map((x) => text(x, name, false)).filter((x): x is string => !!x);
  if (list.length === 0) {
    if (required) throw new EmailFieldError(`the ${name} template found no address in the event`);
    return undefined;
  }
  return list;
}

const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

function attachments(
  d: Delivery,
  data: EmailData,
): { filename: string; content: Buffer; contentType?: string }[] {
  const rendered = renderedField(d, data, 'attachments');
  if (rendered === undefined) return [];
  if (!Array.isArray(rendered)) throw new EmailFieldError('the attachments template did not render a list');
  const list: unknown[] = rendered;
  return list.map((raw, i) => {
    const a = raw as Record<string, unknown>;
    const spec = data.attachments?.[i];
    const filename = text(a.filename, `attachments[${i}].filename`, true)!;
    const content = text(a.content, `attachments[${i}].content`, true)!;
    const encoding = spec?.encoding ?? 'base64';
    if (encoding === 'base64' && !BASE64.test(content)) {
      throw new EmailFieldError(`attachments[${i}].content is not base64`);
    }
    return { filename, content: Buffer.from(content, encoding), contentType: spec?.contentType };
  });
}

/** SMTP replies and nodemailer errors to outcomes: 5xx permanent, 4xx and connection trouble retryable. */
export function classifySmtpError(err: unknown): SendResult {
  const refused = findRefusal(err);
  if (refused) return permanent(refused.message);
  const e = err as {
    code?: string;
    responseCode?: number;
    response?: string;
    message?: string;
    command?: string;
  };
  const reply = e.response ? `: ${e.response.slice(0, 512)}` : '';
  const command = e.command ? ` to ${e.command.split(' ')[0]}` : '';
  if (typeof e.responseCode === 'number') {
    const error = `SMTP ${e.responseCode}${command}${reply}`;
    if (e.responseCode >= 500) return permanent(error, { status: e.responseCode, response: e.response });
    return retryable(error, { status: e.responseCode, response: e.response });
  }
  if (e.code === 'EAUTH') return permanent(`SMTP authentication failed: ${e.message}`);
  if (e.code === 'EENVELOPE' || e.code === 'EMESSAGE') return permanent(`SMTP ${e.code}: ${e.message}`);
  return retryable(e.code ? `${e.code}: ${e.message}` : String(e.message ?? err));
}

export function createEmail(ctx: HostContext): TransportInstance {
  const guard = new NetworkGuard(ctx.security, ctx.network);
  return {
    async send(d: Delivery, signal: AbortSignal): Promise<SendResult> {
      let data: EmailData;
      let message: SendMailOptions;
      try {
        data = EmailDataSchema.parse(d.webhook.data);
        const html = text(renderedField(d, data, 'html'), 'html', false);
        let body = text(renderedField(d, data, 'text'), 'text', false);
        if (body === undefined && html === undefined) body = d.request.body;
        message = {
          from: text(renderedField(d, data, 'from'), 'from', true),
          to: addresses(renderedField(d, data, 'to'), 'to', true),
          cc: addresses(renderedField(d, data, 'cc'), 'cc', false),
          bcc: addresses(renderedField(d, data, 'bcc'), 'bcc', false),
          replyTo: text(renderedField(d, data, 'replyTo'), 'replyTo', false),
          subject: text(renderedField(d, data, 'subject'), 'subject', false) ?? d.eventType,
          text: body,
          html,
          attachments: attachments(d, data),
          messageId: `<${d.id}@hookd>`,
          headers: { 'X-Hookd-Event-Id': d.eventId, 'X-Hookd-Event-Type': d.eventType },
          signal,
        };
      } catch (err) {
        if (err instanceof EmailFieldError) return permanent(err.message);
        if (err instanceof z.ZodError) return permanent(`invalid email data: ${err.issues[0]?.message}`);
        throw err;
      }
      if (signal.aborted) return abortedResult(signal);
      const options: SMTPTransportOptions = {
        host: data.host,
        port: data.port,
        secure: data.secure,
        requireTLS: data.requireTLS,
        auth: data.auth,
        connectionTimeout: ctx.timeoutMs,
        greetingTimeout: ctx.timeoutMs,
        socketTimeout: ctx.timeoutMs,
        disableFileAccess: true,
        disableUrlAccess: true,
        tls: { rejectUnauthorized: true },
        // Connect through the SSRF guard: nodemailer gets a socket to the checked address.
        getSocket: (_options, callback) => {
          guard.connect(data.host, data.port ?? (data.secure ? 465 : 587), signal).then(
            (connection) => callback(null, { connection }),
            (err: Error) => callback(err),
          );
        },
      };
      const transport = nodemailer.createTransport(options);
      try {
        const info = await transport.sendMail(message);
        const rejected = info.rejected.length ? `; rejected: ${info.rejected.join(', ')}` : '';
        return success(undefined, `${info.response}${rejected}`.slice(0, 1024));
      } catch (err) {
        if (signal.aborted) return abortedResult(signal);
        return classifySmtpError(err);
      } finally {
        transport.close();
      }
    },
    async close() {},
  };
}

export const emailTransport: TransportModule<EmailData> = {
  types: ['email'],
  dataSchema: EmailDataSchema,
  secretFields: ['auth.pass'],
  templateFields: ['from', 'to', 'cc', 'bcc', 'replyTo', 'subject', 'text', 'html', 'attachments'],
  create: createEmail,
};
