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
