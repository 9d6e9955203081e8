/**
 * The dispatch stage's public surface (stage 5): what starts when
 * (scheduler), one attempt (attempt runner), what an outcome means (delivery
 * policy), and each webhook's gates (state, breaker, rate limit).
 */
export { type AttemptRun, runAttempt } from './attempt-runner.ts';
export type { BreakerMode, BreakerSettings, Transition } from './breaker.ts';
export { attachCluster, type Cluster, type ClusterDeps } from './cluster.ts';
export {
  type Decision,
  decide,
  escaped,
  firstAttemptAt,
  type NextStep,
  perWebhookConcurrency,
  policyFor,
  type RetryPolicy,
  requeueAt,
  type WebhookEffect,
  webhookEffect,
} from './delivery-policy.ts';
export { Dispatcher, type DispatcherDeps } from './dispatcher.ts';
export type { DueWork } from './due-work.ts';
export { rateShare } from './rate-limit.ts';
export type { Admission } from './scheduler.ts';
export { type SavedState, type StateChange, type StateStore, WebhookStates } from './webhook-states.ts';
