/**
 * Signing secrets of Standard Webhooks (DESIGN.md section 4):
 * `whsec_` + base64 of 24–64 random bytes signs with HMAC-SHA256 (`v1,`);
 * `whsk_` + base64 of an Ed25519 private key (the 32-byte seed, or the
 * 64-byte seed and public key) signs with Ed25519 (`v1a,`), and receivers
 * verify with its public key, published as `whpk_` + base64 of the 32 raw
 * bytes. Anything else is refused with a message saying what is expected.
 */
import { createPrivateKey, createPublicKey, type KeyObject, randomBytes } from 'node:crypto';

export const HMAC_PREFIX = 'whsec_';
export const ED25519_PREFIX = 'whsk_';
export const PUBLIC_KEY_PREFIX = 'whpk_';

const MIN_HMAC_BYTES = 24;
const MAX_HMAC_BYTES = 64;
/** PKCS#8 DER header of an Ed25519 private key; the 32-byte seed follows. */
const ED25519_PKCS8_HEADER = Buffer.from('302e020100300506032b657004220420', 'hex');
/** Standard base64 with its padding. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export type SigningKey =
  | { scheme: 'v1'; key: Buffer }
  | { scheme: 'v1a'; privateKey: KeyObject; publicKey: string };

export class SigningSecretError extends Error {
  readonly code = 'HOOKD_SIGNING_SECRET_INVALID';
}

const EXPECTED = `expected "${HMAC_PREFIX}" + base64 of ${MIN_HMAC_BYTES}-${MAX_HMAC_BYTES} bytes, or "${ED25519_PREFIX}" + base64 of an Ed25519 private key`;

function base64Part(secret: string, prefix: string): Buffer {
  const text = secret.slice(prefix.length);
  if (text === '' || !BASE64.test(text)) {
    throw new SigningSecretError(`the part after "${prefix}" is not base64; ${EXPECTED}`);
  }
  return Buffer.from(text, 'base64');
}

function ed25519Key(secret: string): SigningKey {
  const bytes = base64Part(secret, ED25519_PREFIX);
  if (bytes.length !== 32 && bytes.length !== 64) {
    throw new SigningSecretError(
      `an Ed25519 private key is 32 bytes (or 64 with its public key), not ${bytes.length}`,
    );
  }
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_HEADER, bytes.subarray(0, 32)]),
    format: 'der',
    type: 'pkcs8',
  });
  const raw = rawPublicKey(privateKey);
  if (bytes.length === 64 && !raw.equals(bytes.subarray(32))) {
    throw new SigningSecretError('the last 32 bytes are not the public key of the first 32');
  }
  return { scheme: 'v1a', privateKey, publicKey: `${PUBLIC_KEY_PREFIX}${raw.toString('base64')}` };
}

function rawPublicKey(privateKey: KeyObject): Buffer {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return Buffer.from(String(jwk.x), 'base64url');
}

/** The key a secret signs with; throws `SigningSecretError` saying what is wrong (never the value). */
export function parseSigningSecret(secret: string): SigningKey {
  if (secret.startsWith(HMAC_PREFIX)) {
    const key = base64Part(secret, HMAC_PREFIX);
    if (key.length < MIN_HMAC_BYTES || key.length > MAX_HMAC_BYTES) {
      throw new SigningSecretError(
        `the key is ${key.length} bytes; an HMAC key is ${MIN_HMAC_BYTES}-${MAX_HMAC_BYTES} bytes`,
      );
    }
    return { scheme: 'v1', key };
  }
  if (secret.startsWith(ED25519_PREFIX)) return ed25519Key(secret);
  throw new SigningSecretError(EXPECTED);
}

/** Why a secret cannot sign, or undefined when it can. */
export function signingSecretProblem(secret: string): string | undefined {
  try {
    parseSigningSecret(secret);
    return undefined;
  } catch (err) {
    if (err instanceof SigningSecretError) return err.message;
    throw err;
  }
}

/** The `whpk_` public key of a `whsk_` secret; undefined for HMAC or invalid secrets. */
export function publicKeyOf(secret: string | undefined): string | undefined {
  if (!secret?.startsWith(ED25519_PREFIX)) return undefined;
  try {
    const k = parseSigningSecret(secret);
    return k.scheme === 'v1a' ? k.publicKey : undefined;
  } catch {
    return undefined;
  }
}

/** A fresh secret of the same kind as `like` (HMAC when absent): 32 random bytes. */
export function generateSigningSecret(like?: string): string {
  const prefix = like?.startsWith(ED25519_PREFIX) ? ED25519_PREFIX : HMAC_PREFIX;
  return `${prefix}${randomBytes(32).toString('base64')}`;
}
