/**
 * The transports hookd knows, listed explicitly (no registration by import
 * side effect). Plugins from `plugins.dir` are added through `register`.
 */
import type { HostContext, TransportInstance, TransportModule } from './contract.ts';
import { emailTransport } from './email/index.ts';
import { createHttpClient } from './http/client.ts';
import { httpTransport } from './http/index.ts';
import { natsTransport } from './nats/index.ts';
import { sftpTransport } from './sftp/index.ts';

/** Built-in transports. */
export const BUILTIN_TRANSPORTS: readonly TransportModule[] = [
  httpTransport,
  sftpTransport,
  emailTransport,
  natsTransport,
];

/** Seed 000 vendor types: not built in; a plugin must provide them. */
export const VENDOR_TYPES: readonly string[] = [
  'chargecloud-document',
  'prerender-api-document',
  'prerender-api-email',
  'binect-document',
  'binect-email',
  'epostbusiness-document',
  'epostbusiness-email',
];

export class TransportRegistry {
  private readonly byType = new Map<string, TransportModule>();
  private readonly list: TransportModule[] = [];

  constructor(modules: readonly TransportModule[] = BUILTIN_TRANSPORTS) {
    for (const m of modules) this.register(m);
  }

  register(module: TransportModule): void {
    for (const t of module.types) {
      if (this.byType.has(t)) throw new Error(`transport type "${t}" is registered twice`);
    }
    for (const t of module.types) this.byType.set(t, module);
    this.list.push(module);
  }

  /** The transport name for a written type or alias. */
  resolveType(typeName: string): string | undefined {
    return this.byType.get(typeName)?.types[0];
  }

  get(type: string): TransportModule | undefined {
    return this.byType.get(type);
  }

  modules(): readonly TransportModule[] {
    return this.list;
  }

  /** A message for an unknown type, listing the known ones. */
  unknownTypeMessage(typeName: string): string {
    const known = [...this.byType.keys()].sort().join(', ');
    if (VENDOR_TYPES.includes(typeName)) {
      return `type "${typeName}" is a vendor type that is not built in; load a plugin for it from plugins.dir (known types: ${known})`;
    }
    return `unknown webhook type "${typeName}" (known types: ${known})`;
  }
}

/**
 * A module's transport as the dispatcher (and the test send) calls it: each
 * send gets the webhook's `data` (replaced by the module's `dataSchema`
 * output when the webhook was loaded, so it has the module's type), and the
 * module gets hookd's HTTP client.
 */
export function instantiate<Data>(module: TransportModule<Data>, host: HostContext): TransportInstance {
  const sender = module.create({ ...host, http: () => createHttpClient(host) });
  return {
    send: (d, signal) => sender.send({ ...d, data: d.webhook.data as Data }, signal),
    close: () => sender.close(),
  };
}
