import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUILTIN_TRANSPORTS, TransportRegistry, VENDOR_TYPES } from '../../../src/transports/registry.ts';

describe('transport registry', () => {
  const registry = new TransportRegistry();

  it('resolves names and aliases to the transport name', () => {
    for (const [written, name] of [
      ['http', 'http'],
      ['webhook', 'http'],
      ['sftp', 'sftp'],
      ['sftp-document', 'sftp'],
      ['sftp-email', 'sftp'],
      ['email', 'email'],
      ['nats', 'nats'],
    ]) {
      assert.equal(registry.resolveType(written), name, written);
    }
  });

  it('an unknown type lists the known ones', () => {
    assert.equal(registry.resolveType('carrier-pigeon'), undefined);
    const msg = registry.unknownTypeMessage('carrier-pigeon');
    assert.match(msg, /unknown webhook type "carrier-pigeon"/);
    for (const t of ['email', 'http', 'nats', 'sftp', 'sftp-document', 'sftp-email', 'webhook'])
      assert.ok(msg.includes(t), t);
  });

  it('a seed 000 vendor type without its plugin says a plugin is needed', () => {
    for (const t of VENDOR_TYPES) {
      assert.equal(registry.resolveType(t), undefined);
      assert.match(registry.unknownTypeMessage(t), /vendor type.*plugin.*plugins\.dir/);
    }
  });

  it('refuses a second module claiming a registered type', () => {
    const r = new TransportRegistry();
    assert.throws(() => r.register({ ...BUILTIN_TRANSPORTS[0], types: ['webhook'] }), /registered twice/);
  });

  it('every built-in names its secret and template fields inside its schema', () => {
    for (const m of BUILTIN_TRANSPORTS) {
      const shape = (m.dataSchema as unknown as { shape?: Record<string, unknown> }).shape;
      assert.ok(shape, `${m.types[0]}: the data schema is not an object schema`);
      const keys = Object.keys(shape);
      for (const f of [...(m.secretFields ?? []), ...(m.templateFields ?? [])]) {
        assert.ok(keys.includes(f.split('.')[0]), `${m.types[0]}: ${f} is not a data key`);
      }
    }
  });
});
