/**
 * Rules (stage 2): the webhook model, topic attributes, the indexed
 * selection with groups and CEL conditions, and explain.
 */
export { type AttributeMap, type Attributes, compileAttributeMap } from './attributes.ts';
export {
  CONDITION_LIMITS,
  type Condition,
  ConditionEvalError,
  ConditionSyntaxError,
  compileCondition,
} from './condition.ts';
export { CONDITION_ERROR_LOG_INTERVAL_MS, type ConditionErrorInfo } from './condition-errors.ts';
export {
  byDispatchOrder,
  type ConditionRunner,
  compileRuleSet,
  RuleCompileError,
  type RuleEngineOptions,
  type RuleProblem,
  type RuleSet,
  type RuleSetStats,
  type SelectOutcome,
} from './engine.ts';
export {
  type LoadedRules,
  loadRuleFiles,
  type Origin,
  type RuleFileText,
  readRuleFiles,
  validateWebhook,
  type WebhookTypes,
} from './load.ts';
export {
  describeMatch,
  describeReason,
  type ExplainEntry,
  type ExplainResult,
  type MatchNote,
  type SkipReason,
} from './select-naive.ts';
export {
  generateSigningSecret,
  HMAC_PREFIX,
  parseSigningSecret,
  publicKeyOf,
  type SigningKey,
} from './signing-secret.ts';
export {
  type Authentication,
  BreakerOverrideSchema,
  HookSchema,
  LangText,
  normalizeWebhook,
  RateLimitSchema,
  SigningSecretSchema,
  type Webhook,
  WebhookIdSchema,
  WebhookInputSchema,
  WebhookState,
} from './webhook-schema.ts';
