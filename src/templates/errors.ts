/**
 * The two ways a template fails: at load (a config error the loader places
 * at file:line:col through `path`) or for one event (a permanent delivery
 * error whose message is the attempt's reason).
 */

/** Field path inside the webhook, e.g. `['templates', 'entry', 'title']` or `['url']`. */
export type FieldPath = (string | number)[];

/** A template could not be compiled; `path` is the field path inside the webhook. */
export class TemplateCompileError extends Error {
  readonly code = 'HOOKD_TEMPLATE_INVALID';
  constructor(
    message: string,
    readonly path: FieldPath,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TemplateCompileError';
  }
}

/** Rendering failed for this event: a permanent delivery error. `path` names the template that failed. */
export class RenderError extends Error {
  readonly code = 'HOOKD_RENDER_FAILED';
  constructor(
    message: string,
    readonly path: FieldPath = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RenderError';
  }
}
