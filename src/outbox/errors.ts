/** The store's errors, each with a stable code; `api/` maps them to HTTP statuses. */

export class StoreError extends Error {
  readonly code = 'HOOKD_STORE_FAILED';
}

export class InvalidCursorError extends Error {
  readonly code = 'HOOKD_STORE_CURSOR';
  constructor() {
    super('not a cursor from a previous page');
  }
}

export class DuplicateWebhookError extends Error {
  readonly code = 'HOOKD_WEBHOOK_DUPLICATE';
  constructor(readonly id: string) {
    super(`a webhook with id "${id}" exists already`);
  }
}
