/**
 * AES-256-GCM under `security.secretsKey` (DESIGN.md section 4), with
 * `security.previousSecretsKeys` for a key rotation: a sealed value names the
 * key that sealed it (a short digest of it, never the key), so it opens under
 * the current key or any previous one, and is sealed again under the current
 * key on the next write.
 *
 * A sealed value is text: `enc:v1:<key id>:<base64 of iv | tag | ciphertext>`.
 * The associated data binds it to where it is stored (webhook id and field), so
 * a sealed value copied to another webhook or field does not open.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class SecretsKeyError extends Error {
  readonly code = 'HOOKD_SECRETS_KEY';
}

/** True for text that `KeyRing.seal` made. */
export const isSealed = (v: unknown): v is string => typeof v === 'string' && v.startsWith(PREFIX);

const keyId = (key: Buffer) =>
  createHash('sha256').update('hookd secrets key\0').update(key).digest('hex').slice(0, 12);

export class KeyRing {
  private readonly currentKey: { id: string; key: Buffer } | undefined;
  private readonly byId = new Map<string, Buffer>();

  /** Keys as configured: base64 of 32 bytes each (validated by the config schema). */
  constructor(current: string | undefined, previous: readonly string[] = []) {
    const decode = (b64: string) => {
      const key = Buffer.from(b64.trim(), 'base64');
      if (key.length !== 32) throw new SecretsKeyError('a secrets key must be base64 of 32 bytes');
      return { id: keyId(key), key };
    };
    if (current !== undefined) this.currentKey = decode(current);
    for (const k of [...(this.currentKey ? [this.currentKey] : []), ...previous.map(decode)]) {
      if (!this.byId.has(k.id)) this.byId.set(k.id, k.key);
    }
  }

  /** False without `security.secretsKey`: secrets are then stored as written. */
  get sealing(): boolean {
    return this.currentKey !== undefined;
  }

  /** True when `value` was sealed under the current key (false for plain text, or an earlier key). */
  isCurrent(value: unknown): boolean {
    return (
      this.currentKey !== undefined && isSealed(value) && value.startsWith(`${PREFIX}${this.currentKey.id}:`)
    );
  }

  seal(plain: string, where: string): string {
    if (!this.currentKey) throw new SecretsKeyError('no security.secretsKey is set');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.currentKey.key, iv);
    cipher.setAAD(Buffer.from(where));
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const blob = Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
    return `${PREFIX}${this.currentKey.id}:${blob}`;
  }

  open(sealed: string, where: string): string {
    const rest = sealed.slice(PREFIX.length);
    const colon = rest.indexOf(':');
    const id = rest.slice(0, colon);
    const key = colon > 0 ? this.byId.get(id) : undefined;
    if (!key) {
      throw new SecretsKeyError(
        this.byId.size === 0
          ? `${where} is encrypted and no security.secretsKey is set`
          : `${where} is encrypted with a key that is neither security.secretsKey nor one of security.previousSecretsKeys`,
      );
    }
    const blob = Buffer.from(rest.slice(colon + 1), 'base64');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(where));
      decipher.setAuthTag(blob.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(blob.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new SecretsKeyError(
        `${where} does not decrypt (damaged, or stored for another webhook or field)`,
      );
    }
  }
}
