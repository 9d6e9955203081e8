/** argv → commands (DESIGN.md section 1). */
import { parseArgs } from 'node:util';
import { consoleOutput, runCheck, runDaemon, runExplain, runPublish, runRetry } from './commands/index.ts';

const USAGE = `usage: hookd <command> [options]

  run      [--config FILE] [--rules DIR]           run the daemon
  check    [--config FILE] [--rules DIR]           validate config and rules (exit 1 with file:line:col per problem)
  explain  --event FILE [--subject S] [--json]     why each webhook matched or not, and the rendered requests
  publish  --subject S (--file F | --data JSON) [--count N] [--url URL]
  retry    --webhook ID|IDENTIFIER [--since T]     requeue failed deliveries (a running hookd finds them within a minute, or on SIGHUP)
`;

const DEFAULT_CONFIG = 'config/hookd.yaml';

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const out = consoleOutput;
  const common = {
    config: { type: 'string' as const, default: DEFAULT_CONFIG },
    rules: { type: 'string' as const, default: 'rules' },
  };
  switch (command) {
    case 'run': {
      const { values } = parseArgs({ args: rest, options: common, strict: true });
      return runDaemon({ config: values.config, rules: values.rules }, out);
    }
    case 'check': {
      const { values } = parseArgs({ args: rest, options: common, strict: true });
      return runCheck({ config: values.config, rules: values.rules }, out);
    }
    case 'explain':
      return runExplain(rest, out);
    case 'publish': {
      const { values } = parseArgs({
        args: rest,
        options: {
          subject: { type: 'string' },
          file: { type: 'string' },
          data: { type: 'string' },
          count: { type: 'string', default: '1' },
          url: { type: 'string', default: process.env.HOOKD_NATS_URL ?? 'nats://127.0.0.1:4222' },
        },
        strict: true,
      });
      if (!values.subject) {
        out.stderr('hookd publish: --subject is required');
        return 2;
      }
      const count = Number(values.count);
      if (!Number.isInteger(count) || count < 1) {
        out.stderr('hookd publish: --count must be a whole number of at least 1');
        return 2;
      }
      return runPublish(
        { url: values.url!, subject: values.subject, file: values.file, data: values.data, count },
        out,
      );
    }
    case 'retry': {
      const { values } = parseArgs({
        args: rest,
        options: { config: common.config, webhook: { type: 'string' }, since: { type: 'string' } },
        strict: true,
      });
      return runRetry({ config: values.config, webhook: values.webhook, since: values.since }, out);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out.stdout(USAGE);
      return command === undefined ? 2 : 0;
    default:
      out.stderr(`hookd: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`hookd: ${(err as Error).stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}
