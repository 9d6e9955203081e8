/** Errors the API answers with a status, a stable code and, for bad bodies, the path of each problem. */
import type { BodyProblem } from './body-problems.ts';

export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409,
    readonly code: string,
    message: string,
    readonly problems?: BodyProblem[],
  ) {
    super(message);
  }

  body(): { error: string; message: string; problems?: BodyProblem[] } {
    return { error: this.code, message: this.message, ...(this.problems ? { problems: this.problems } : {}) };
  }
}

export const notFound = (what: string, id: string) => new ApiError(404, 'not_found', `no ${what} "${id}"`);

export function invalidBody(problems: BodyProblem[]): ApiError {
  return new ApiError(
    400,
    'invalid_body',
    problems.map((p) => `${p.path}: ${p.message}`).join('; '),
    problems,
  );
}

/**
 * The one map from a domain error's stable `code` to the API's answer:
 * domain code (store, catalog, secrets) throws its own errors, never HTTP
 * ones, and every route answers them through `apiErrorOf`.
 */
const BY_CODE: Readonly<Record<string, (err: Error) => ApiError>> = {
  HOOKD_WEBHOOK_DUPLICATE: (err) => new ApiError(409, 'conflict', err.message),
  HOOKD_STORE_CURSOR: () =>
    new ApiError(400, 'invalid_body', 'before: not a cursor from a previous page', [
      { path: 'before', message: 'not a cursor from a previous page' },
    ]),
};

/** The API answer for `err`, or undefined for an unexpected error (a 500). */
export function apiErrorOf(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? BY_CODE[code]?.(err) : undefined;
}
