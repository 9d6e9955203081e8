/**
 * Where the scheduler gets work: the seam between the dispatcher and the
 * store. The outbox implements it today; a source that serves fresh
 * deliveries from memory (and a JetStream backend) can implement it too.
 */
import type { DueRow } from '../outbox/index.ts';

export type { DueRow };

export interface DueWork {
  /** Every webhook with pending deliveries and when its earliest is due (at start and after bulk changes). */
  dueByWebhook(): { webhookId: string; at: number }[];
  /** Up to `limit` pending deliveries of one webhook due at or before `upTo`, oldest first, leaving out `skip`. */
  due(webhookId: string, upTo: number, limit: number, skip: readonly string[]): DueRow[];
  /** When the next pending delivery of a webhook, leaving out `skip`, is due (undefined: none). */
  nextDueOf(webhookId: string, skip: readonly string[]): number | undefined;
  /**
   * True when the source hands out every delivery itself and says when a
   * webhook has work (the jetstream queue: its consumers, shared by the
   * replicas): deliveries just stored are not sent from memory, and
   * "nothing due" means "wait to be told", not "memory holds the rest".
   */
  readonly ownQueue?: boolean;
}
