/**
 * Config (base lane): schema, loading (file + env), problems with positions.
 * This file is the folder's surface: other folders import only from here.
 */
export { DurationSchema } from './duration.ts';
export { loadConfig } from './load.ts';
export { ConfigError, formatPath, formatProblem, type Problem } from './problems.ts';
export { describeFsError, readTextFile, readTextFileSync, type TextFile } from './read-text-file.ts';
export type { Config, Permission } from './schema.ts';
export { parseYaml, type YamlSource, zodProblems } from './yaml-source.ts';
