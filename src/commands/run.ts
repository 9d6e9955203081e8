/** `hookd run`: the daemon, until SIGTERM/SIGINT; SIGHUP reloads the rules. */
import { App } from '../app.ts';
import { loadTransports } from '../catalog/index.ts';
import { ConfigError, formatProblem, loadConfig } from '../config/index.ts';
import { createLogger } from '../logging.ts';
import { collectWhenIdle } from './idle-collector.ts';
import type { Output } from './output.ts';

export async function runDaemon(opts: { config?: string; rules: string }, out: Output): Promise<number> {
  let app: App | undefined;
  let fatal: (() => void) | undefined;
  try {
    const config = loadConfig(opts.config);
    const registry = await loadTransports(config);
    app = await App.open({
      config,
      rulesDir: opts.rules,
      registry,
      logger: createLogger(config.log.level),
      onFatal: (err) => {
        out.stderr(`hookd: ${err.message}`);
        fatal?.();
      },
    });
    await app.start();
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) out.stderr(formatProblem(p));
      out.stderr('hookd: not starting: the configuration is invalid');
      return 1;
    }
    // What hookd names itself (a store or JetStream it cannot set up, a port in use) is said in a
    // line; anything else is a bug worth its stack.
    const known = typeof (err as { code?: unknown }).code === 'string';
    out.stderr(`hookd: not starting: ${known ? (err as Error).message : ((err as Error).stack ?? err)}`);
    await app?.stop().catch(() => {});
    return 1;
  }
  const collector = collectWhenIdle();
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      collector.stop();
      app.logger.info({ signal }, 'signal received');
      // Exit even if a library left a handle open: shutdown is bounded by shutdownTimeoutMs.
      const exit = (code: number) => {
        resolve(code);
        setTimeout(() => process.exit(code), 200).unref();
      };
      app.stop().then(
        () => exit(0),
        (err) => {
          app.logger.error({ err }, 'error while stopping');
          exit(1);
        },
      );
    };
    fatal = () => {
      if (stopping) return;
      stopping = true;
      collector.stop();
      app.stop().finally(() => {
        resolve(1);
        setTimeout(() => process.exit(1), 200).unref();
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => void app.reload('SIGHUP'));
  });
}
