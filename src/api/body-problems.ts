/**
 * Validation of JSON request bodies with the same code as rule files
 * (`validateWebhook` takes a `YamlSource` for positions): a JSON body has no
 * lines, so this source reports the JSON path of each problem instead.
 */

import type { PathProblem } from '../catalog/index.ts';
import { formatPath, type Problem } from '../config/index.ts';

/** One problem of a request body: where (a JSON path such as `data.port` or `topics[0].event`) and what. */
export interface BodyProblem {
  path: string;
  message: string;
}

/** A problem located by its field path; `path` is kept so dialects can rename the fields. */
export type { PathProblem } from '../catalog/index.ts';
/** A `YamlSource` for a parsed JSON body: every problem carries its field path. */
export { specSource as bodySource } from '../catalog/index.ts';

/** Renames the fields of a path (a dialect's own names); identity by default. */
export type PathMapper = (path: readonly PropertyKey[]) => readonly PropertyKey[];

/** Problems as the API answers them: the JSON path and the message without the path prefix. */
export function bodyProblems(problems: readonly Problem[], rename: PathMapper = (p) => p): BodyProblem[] {
  return problems.map((p) => {
    const path = (p as Partial<PathProblem>).path ?? [];
    const prefix = `${formatPath(path)}: `;
    const message = p.message.startsWith(prefix) ? p.message.slice(prefix.length) : p.message;
    return { path: formatPath(rename(path)) || '$', message };
  });
}
