/** Secrets of API webhooks: where they are in a webhook, and their encryption at rest. */
export { isSealed, KeyRing, SecretsKeyError } from './key-ring.ts';
export { redactWebhook, SECRET_HEADER_NAMES, webhookSecretPaths } from './redaction.ts';
export {
  AUTH_SECRET_KEYS,
  isSecretCredential,
  type SecretSlot,
  secretDataFields,
  secretSlots,
} from './secret-slots.ts';
export { type KeyRingSeal, specSeal } from './spec-seal.ts';
