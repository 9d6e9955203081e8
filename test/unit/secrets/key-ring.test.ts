import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { isSealed, KeyRing, SecretsKeyError } from '../../../src/secrets/index.ts';

const key = () => randomBytes(32).toString('base64');

test('a sealed value opens under the same key and field, and shows nothing of the plain text', () => {
  const ring = new KeyRing(key());
  const sealed = ring.seal('whsec_plain-value', 'webhook "a" field secret');
  assert.ok(isSealed(sealed));
  assert.ok(!sealed.includes('plain-value'));
  assert.notEqual(sealed, ring.seal('whsec_plain-value', 'webhook "a" field secret'), 'a fresh IV each time');
  assert.equal(ring.open(sealed, 'webhook "a" field secret'), 'whsec_plain-value');
});

test('a sealed value moved to another webhook or field does not open', () => {
  const ring = new KeyRing(key());
  const sealed = ring.seal('x', 'webhook "a" field secret');
  assert.throws(() => ring.open(sealed, 'webhook "b" field secret'), SecretsKeyError);
  assert.throws(() => ring.open(`${sealed.slice(0, -4)}AAA=`, 'webhook "a" field secret'), SecretsKeyError);
});

test('rotation: a value sealed by a previous key opens; new seals use the current key', () => {
  const old = key();
  const sealed = new KeyRing(old).seal('s', 'w');
  const current = key();
  const ring = new KeyRing(current, [old]);
  assert.equal(ring.open(sealed, 'w'), 's');
  const resealed = ring.seal('s', 'w');
  assert.equal(new KeyRing(current).open(resealed, 'w'), 's');
  assert.throws(() => new KeyRing(old).open(resealed, 'w'), /neither security.secretsKey nor/);
  assert.throws(() => new KeyRing(undefined).open(resealed, 'w'), /no security.secretsKey is set/);
});

test('without a key nothing is sealed', () => {
  const ring = new KeyRing(undefined);
  assert.equal(ring.sealing, false);
  assert.throws(() => ring.seal('s', 'w'), SecretsKeyError);
});
