/**
 * Encryption at rest of API webhooks (DESIGN.md section 4): before a stored
 * webhook is written, every secret slot is sealed under the key ring; after
 * it is read, opened again. Without `security.secretsKey` specs are written
 * as they are (hookd warns at start and `/readyz` says so), and sealed values
 * still open with `security.previousSecretsKeys`.
 */
import type { SpecSeal } from '../outbox/index.ts';
import type { TransportRegistry } from '../transports/index.ts';
import { isSealed, type KeyRing } from './key-ring.ts';
import { secretSlots } from './secret-slots.ts';

/** What a sealed value is bound to: a copy moved to another webhook or field does not open. */
const where = (id: string, path: readonly string[]) =>
  `webhook ${JSON.stringify(id)} field ${path.join('.')}`;

/** A `SpecSeal` that also notes the webhooks read with a secret not sealed under the current key. */
export interface KeyRingSeal extends SpecSeal {
  /** Ids of webhooks read with a secret in plain text or under a previous key: a rewrite re-seals them. */
  readonly stale: Set<string>;
}

export function specSeal(ring: KeyRing, registry: TransportRegistry): KeyRingSeal {
  const stale = new Set<string>();
  return {
    stale,
    seal(id, spec) {
      if (!ring.sealing) return spec;
      const out = structuredClone(spec);
      for (const s of secretSlots(out, registry)) {
        if (!isSealed(s.value)) s.set(ring.seal(JSON.stringify(s.value), where(id, s.path)));
      }
      return out;
    },
    open(id, spec) {
      const out = structuredClone(spec);
      for (const s of secretSlots(out, registry)) {
        if (ring.sealing && !ring.isCurrent(s.value)) stale.add(id);
        if (isSealed(s.value)) s.set(JSON.parse(ring.open(s.value, where(id, s.path))));
      }
      return out;
    },
  };
}
