/** Reloads when the rules directory changes (debounced); without a watcher, SIGHUP still reloads. */
import { watch } from 'node:fs';
import type { Logger } from 'pino';

const DEBOUNCE_MS = 300;

export function watchRules(dir: string, reload: () => void, logger: Logger): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  const warn = (err: unknown) =>
    logger.warn({ err: (err as Error).message }, 'cannot watch the rules directory; reload with SIGHUP');
  try {
    const watcher = watch(dir, () => {
      clearTimeout(timer);
      timer = setTimeout(reload, DEBOUNCE_MS);
    });
    watcher.on('error', warn);
    return {
      close: () => {
        watcher.close();
        clearTimeout(timer);
      },
    };
  } catch (err) {
    warn(err);
    return { close: () => {} };
  }
}
