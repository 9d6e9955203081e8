/** What templates produce for one event and webhook: the stored request a transport sends. */

/**
 * The request as rendered when the delivery was stored. Retries send exactly
 * this; signatures and tokens are made per attempt.
 */
export interface RenderedRequest {
  /** HTTP method (http transport). */
  method?: string;
  /** Target URL (http transport). */
  url?: string;
  /** Rendered header values by name; secret headers are kept out of this and added at send time. */
  headers: Record<string, string>;
  /** The serialized body. */
  body: string;
  contentType: string;
  /** Rendered transport fields (e.g. sftp `directory` and `fileName`, email `to`/`subject`, nats `subject`). */
  fields: Record<string, unknown>;
}
