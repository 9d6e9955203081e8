/** One transport instance per type, made on first use and closed together at shutdown. */
import type { HostContext, TransportInstance } from './contract.ts';
import { instantiate, type TransportRegistry } from './registry.ts';

export class TransportInstances {
  private readonly byType = new Map<string, TransportInstance>();

  constructor(
    private readonly registry: TransportRegistry,
    private readonly host: (type: string) => HostContext,
  ) {}

  /** Undefined when no transport has the type. */
  get(type: string): TransportInstance | undefined {
    let t = this.byType.get(type);
    if (!t) {
      const module = this.registry.get(type);
      if (!module) return undefined;
      t = instantiate(module, this.host(type));
      this.byType.set(type, t);
    }
    return t;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.byType.values()].map((t) => t.close().catch(() => {})));
  }
}
