/**
 * Parses a YAML file keeping positions, so every problem can be reported as
 * `file:line:col` for the exact key or value at fault.
 */
import { type Document, isAlias, isMap, isPair, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
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

/** Deeper YAML is refused (as events are, `events.maxDepth`): no config or rule needs it. */
export const MAX_YAML_DEPTH = 128;
/**
 * Alias expansions allowed (yaml's `maxAliasCount`, 100 by default, refuses
 * even a plain file sharing one anchor 111 times); an alias bomb still goes
 * far over it after little work.
 */
export const MAX_YAML_ALIASES = 10_000;

const TOO_DEEP_TO_PARSE = `nested too deeply to parse (at most ${MAX_YAML_DEPTH} levels)`;

/** The first node nested deeper than `max`, walked without recursion. */
function tooDeep(root: unknown, max: number): Node | undefined {
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (isMap(node) || isSeq(node)) {
      if (depth >= max) return node;
      for (const item of node.items) stack.push([item, depth + 1]);
    } else if (isPair(node)) {
      stack.push([node.key, depth], [node.value, depth]);
    }
  }
  return undefined;
}

function firstAlias(root: unknown): Node | undefined {
  const stack: unknown[] = [root];
  while (stack.length) {
    const node = stack.pop();
    if (isAlias(node)) return node;
    if (isMap(node) || isSeq(node)) stack.push(...[...node.items].reverse());
    else if (isPair(node)) stack.push(node.value, node.key);
  }
  return undefined;
}

export function parseYaml(file: string, text: string): YamlSource {
  const lineCounter = new LineCounter();
  let doc: Document;
  try {
    // logLevel error: yaml's warnings (a collection used as a key) would go to stderr; the schema reports them.
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, logLevel: 'error' });
  } catch (err) {
    // The composer recurses: nesting in the tens of thousands overflows the stack before any check.
    const message = `invalid YAML: ${err instanceof RangeError ? TOO_DEEP_TO_PARSE : (err as Error).message}`;
    doc = parseDocument('', { lineCounter: new LineCounter() });
    return source(file, doc, lineCounter, [{ file, line: 1, col: 1, message }]);
  }
  // The first syntax error only: the ones after it are usually its echoes.
  const problems: Problem[] = doc.errors.slice(0, 1).map((e) => {
    const pos = lineCounter.linePos(e.pos[0]);
    const message = /call stack/i.test(e.message) ? TOO_DEEP_TO_PARSE : e.message.split('\n')[0];
    return { file, line: pos.line, col: pos.col, message: `invalid YAML: ${message}` };
  });
  return source(file, doc, lineCounter, problems);
}

function source(file: string, doc: Document, lineCounter: LineCounter, problems: Problem[]): YamlSource {
  const pos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  const at = (node: Node | undefined, message: string): Problem => ({
    file,
    ...(node?.range ? pos(node.range[0]) : { line: 1, col: 1 }),
    message,
  });
  let value: unknown;
  if (!problems.length) {
    const deep = tooDeep(doc.contents, MAX_YAML_DEPTH);
    if (deep) problems.push(at(deep, `invalid YAML: nested deeper than ${MAX_YAML_DEPTH} levels`));
  }
  if (!problems.length) {
    try {
      value = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
    } catch (err) {
      const message = /alias count/i.test((err as Error).message)
        ? `invalid YAML: aliases expand too much (over ${MAX_YAML_ALIASES} expansions; an alias bomb?)`
        : `invalid YAML: ${(err as Error).message}`;
      problems.push(at(firstAlias(doc.contents), message));
    }
  }
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
    value: problems.length ? undefined : value,
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
