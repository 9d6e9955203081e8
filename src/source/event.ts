/**
 * A decoded event, as every later stage sees it (DESIGN.md section 2).
 * `body` is the event object as received (a structured CloudEvent, or any
 * other JSON object); `data` is its `data` member, or the whole body when it
 * has none.
 */
export interface HookEvent {
  /**
   * The event's `id`, else the `Nats-Msg-Id` header, else the stream's identity
   * (name and creation time) with the sequence. With `source`, the event's identity.
   */
  id: string;
  /** The `type` attribute ('' when the event has none). */
  type: string;
  /** NATS subject, or `http` for HTTP ingest. */
  subject: string;
  source?: string;
  /** The whole event object; templates and JSON pointers resolve against it. */
  body: Record<string, unknown>;
  /** `body.data` when present, else `body`. */
  data: unknown;
  /** CloudEvents extensions and binary-mode `ce-*` headers, by attribute name. */
  extensions: Record<string, string>;
  /** Milliseconds since the epoch when hookd received it (or the CloudEvent `time` is not used: latency counts from receipt). */
  receivedAt: number;
}

/**
 * An event that could not be decoded, kept (with its payload) for
 * inspection: the source produces it, the outbox stores it.
 */
export interface Rejection {
  receivedAt: number;
  source: string;
  subject?: string;
  reason: string;
  detail?: string;
  payload?: Uint8Array;
}
