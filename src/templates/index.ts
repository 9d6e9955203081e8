/**
 * Templates (stage 3): webhook templates compiled once at load, rendered into
 * the stored request for one event (DESIGN.md section 3, "Templates").
 */
export { type FieldPath, RenderError, TemplateCompileError } from './errors.ts';
export {
  defaultJsonataEngine,
  type JsonataEngine,
  type JsonataExpression,
  type JsonataLimits,
  type JsonataRunner,
  jsonataEngine,
  jsonataMessage,
  sandboxedJsonata,
} from './jsonata-engine.ts';
export {
  type CompileOptions,
  compileWebhookTemplates,
  DEFAULT_CONTENT_TYPE_POINTERS,
  type WebhookTemplates,
} from './render.ts';
export type { RenderedRequest } from './rendered-request.ts';
