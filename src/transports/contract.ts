/**
 * The transport contract (DESIGN.md section 8). A transport only sends one
 * rendered delivery and classifies the outcome; the dispatcher owns retries,
 * breakers and limits.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Webhook } from '../rules/index.ts';
import type { RenderedRequest } from '../templates/index.ts';

export type { RenderedRequest };

/** What a transport gets for one attempt. */
export interface Delivery {
  /** Stable across retries; the Standard Webhooks `webhook-id` and the receiver's idempotency key. */
  id: string;
  eventId: string;
  eventType: string;
  /** 1 for the first attempt. */
  attempt: number;
  request: RenderedRequest;
  /** The webhook as currently configured (secrets, credentials, transport settings). */
  webhook: Webhook;
}

/**
 * What a transport's `send` gets: the delivery and its webhook's `data`,
 * already parsed and typed by the transport's `dataSchema` (when the webhook
 * was loaded), so a transport never parses its settings per attempt.
 */
export interface TypedDelivery<Data> extends Delivery {
  data: Data;
}

export type SendResult =
  | { outcome: 'success'; status?: number; response?: string }
  | { outcome: 'retryable'; error: string; status?: number; response?: string; retryAfterMs?: number }
  | {
      outcome: 'permanent';
      error: string;
      status?: number;
      response?: string;
      /** The receiver asked never to be called again (HTTP 410): the dispatcher stops the webhook. */
      stopWebhook?: boolean;
    };

export const success = (status?: number, response?: string): SendResult => ({
  outcome: 'success',
  status,
  response,
});
export const retryable = (
  error: string,
  extra: { status?: number; response?: string; retryAfterMs?: number } = {},
): SendResult => ({ outcome: 'retryable', error, ...extra });
export const permanent = (
  error: string,
  extra: { status?: number; response?: string; stopWebhook?: boolean } = {},
): SendResult => ({ outcome: 'permanent', error, ...extra });

/** Daemon-wide settings a transport may need (what hookd hands the registry). */
export interface HostContext {
  logger: Logger;
  /** Default per-attempt timeout in milliseconds (the webhook's `timeoutMs` overrides it). */
  timeoutMs: number;
  security: SecuritySettings;
  /** How transports resolve names and open sockets; defaults to the system resolver and `net.connect`. */
  network?: NetworkHooks;
}

/** A resolved address of a host name. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * The two network primitives every built-in transport goes through, after the
 * address policy has approved the target. Tests inject a `connect` that fails
 * when asked for anything but loopback, so a bug in the guard cannot send a
 * packet off the machine.
 */
export interface NetworkHooks {
  /** All addresses of a host name (default: `dns.lookup(host, {all: true})`). */
  lookup?: (hostname: string) => Promise<ResolvedAddress[]>;
  /** Opens a TCP connection to an already approved IP address (default: `net.connect`). */
  connect?: (options: { host: string; port: number }) => Socket;
}

export interface SecuritySettings {
  allowPrivateNetworks: boolean;
  /** Host names, IPs or CIDRs that may be reached even when private. */
  allowList: string[];
}

/** What a transport module's `create` gets: the host settings and hookd's HTTP pieces. */
export interface TransportContext extends HostContext {
  /**
   * An HTTP client with the http transport's guarded agent (every address
   * checked by the SSRF policy, redirects followed by hand and re-checked)
   * and its classification of outcomes (2xx success, 408/425/429/5xx
   * retryable with Retry-After, 410 stops the webhook, other 4xx permanent).
   * For HTTP-based transports (e.g. a Slack incoming webhook plugin); call it
   * once in `create` and close it in `close`.
   */
  http(): HttpClient;
}

export interface HttpClientRequest {
  url: string;
  /** @default "POST" */
  method?: string;
  headers?: Record<string, string>;
  /** Header names holding credentials: dropped when a redirect leaves the origin. */
  credentials?: string[];
  body?: string;
  /** @default 5 */
  maxRedirects?: number;
}

export interface HttpClient {
  send(request: HttpClientRequest, signal: AbortSignal): Promise<SendResult>;
  close(): Promise<void>;
}

/** A transport as the dispatcher calls it (see `instantiate` in the registry). */
export interface TransportInstance {
  send(delivery: Delivery, signal: AbortSignal): Promise<SendResult>;
  /** Closes pooled connections. */
  close(): Promise<void>;
}

export interface TransportModule<Data = Record<string, unknown>> {
  /** The transport name first, then aliases: `['http', 'webhook']`. */
  types: readonly string[];
  /** Validates the webhook's `data`; issues carry the path inside `data`. */
  dataSchema: z.ZodType<Data>;
  /** Paths inside `data` (dot separated) that are write-only secrets. */
  secretFields?: readonly string[];
  /** Keys of `data` whose string values are templates rendered when the delivery is stored into `request.fields`. */
  templateFields?: readonly string[];
  /** Checks the whole webhook beyond `data` (e.g. http needs a url); returns problems with paths. */
  validate?(webhook: Webhook): { path: (string | number)[]; message: string }[];
  /**
   * What `send` adds to the stored request per attempt (credentials,
   * signatures), one line each with secrets shown as `redacted`: `hookd
   * explain` prints them.
   */
  describe?(webhook: Webhook, redacted: string): string[];
  create(ctx: TransportContext): TransportSender<Data>;
}

/** A transport as its module makes it: `send` gets the delivery with its typed `data`. */
export interface TransportSender<Data> {
  send(delivery: TypedDelivery<Data>, signal: AbortSignal): Promise<SendResult>;
  /** Closes pooled connections. */
  close(): Promise<void>;
}
