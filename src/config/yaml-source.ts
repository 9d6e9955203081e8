/**
 * Parses a YAML file keeping positions, so every problem can be reported as
 * `file:line:col` for the exact key or value at fault.
 */
import { type Document, isMap, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';
import { formatPath, type Problem } from './problems.ts';

export interface YamlSource {
  file: string;
  value: unknown;
  /** Problems from parsing (syntax errors); empty when the document parsed. */
  problems: Problem[];
  /** Position of the node at `path` (or its closest existing parent); `key` points at the key instead of the value. */
  locate(path: readonly PropertyKey[], key?: boolean): { line: number; col: number };
  /** A problem at `path`. */
  problem(path: readonly PropertyKey[], message: string, key?: boolean): Problem;
}

export function parseYaml(file: string, text: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  // The first syntax error only: the ones after it are usually its echoes.
  const problems: Problem[] = doc.errors.slice(0, 1).map((e) => {
    const pos = lineCounter.linePos(e.pos[0]);
    return { file, line: pos.line, col: pos.col, message: `invalid YAML: ${e.message.split('\n')[0]}` };
  });
  const pos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  const locate = (path: readonly PropertyKey[], key = false) => {
    let node: unknown = doc.contents;
    let keyNode: unknown;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === seg);
        if (!pair) break;
        keyNode = pair.key;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
        keyNode = undefined;
        node = node.items[seg];
      } else break;
    }
    const target = (key && keyNode ? keyNode : (node ?? keyNode)) as Node | undefined;
    return target?.range ? pos(target.range[0]) : { line: 1, col: 1 };
  };
  return {
    file,
    value: problems.length ? undefined : doc.toJS(),
    problems,
    locate,
    problem(path, message, key) {
      return { file, ...locate(path, key), message };
    },
  };
}

/** Turns zod issues into located problems, naming the key path. `prefix` is where the validated value sits. */
export function zodProblems(
  src: YamlSource,
  error: z.ZodError,
  prefix: readonly PropertyKey[] = [],
): Problem[] {
  const out: Problem[] = [];
  for (const issue of error.issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) {
        out.push(src.problem([...path, k], `${formatPath([...path, k])}: unknown key "${k}"`, true));
      }
      continue;
    }
    if (issue.code === 'invalid_union') {
      // Report the branch that got furthest, rather than "invalid input".
      const branches = (issue as unknown as { errors: z.core.$ZodIssue[][] }).errors;
      const best = branches.sort((a, b) => depth(b) - depth(a))[0];
      if (best?.length && depth(best) > 0) {
        for (const sub of best) out.push(...zodProblems(src, { issues: [sub] } as z.ZodError, path));
        continue;
      }
    }
    const where = formatPath(path);
    out.push(src.problem(path, `${where ? `${where}: ` : ''}${issue.message}`));
  }
  return out;
}

function depth(issues: z.core.$ZodIssue[]): number {
  return Math.max(0, ...issues.map((i) => i.path.length));
}
