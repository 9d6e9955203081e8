/** Transport plugins from `plugins.dir` (DESIGN.md section 8). */
export { loadPlugins, PluginLoadError, type PluginProblem } from './load-plugins.ts';
