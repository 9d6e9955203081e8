/** Topic attributes of an event (DESIGN.md section 2). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileAttributeMap } from '../../../src/rules/attributes.ts';
import { event } from './helpers.ts';

describe('attributes', () => {
  it('built-ins: type, resourceType and event (split at the last dot), subject, source', () => {
    const a = compileAttributeMap().of(
      event({ id: '1', type: 'cms.entry.created', source: 'cms' }, 'events.cms'),
    );
    assert.equal(a.type, 'cms.entry.created');
    assert.equal(a.resourceType, 'cms.entry');
    assert.equal(a.event, 'created');
    assert.equal(a.subject, 'events.cms');
    assert.equal(a.source, 'cms');
    assert.equal(a.identifier, undefined);
  });

  it('a type without a dot is both resourceType and event; no type is the empty string', () => {
    const a = compileAttributeMap().of(event({ id: '1', type: 'ping' }));
    assert.deepEqual([a.resourceType, a.event], ['ping', 'ping']);
    const b = compileAttributeMap().of(event({ id: '1' }));
    assert.deepEqual([b.type, b.resourceType, b.event], ['', '', '']);
  });

  it('identifier comes from /webhook, else the CloudEvents extension webhook', () => {
    assert.equal(compileAttributeMap().of(event({ id: '1', webhook: 'cust-a' })).identifier, 'cust-a');
    assert.equal(
      compileAttributeMap().of(event({ specversion: '1.0', id: '1', webhook: 'cust-b' })).identifier,
      'cust-b',
    );
  });

  it('every CloudEvents extension is an attribute; built-ins win over extensions of the same name', () => {
    const a = compileAttributeMap().of(
      event({ specversion: '1.0', id: '1', type: 'a.b', tenant: 't1', identifier: 'sneaky', event: 'x' }),
    );
    assert.equal(a.tenant, 't1');
    assert.equal(a.identifier, undefined);
    assert.equal(a.event, 'b');
  });

  it('configured pointers add attributes and override built-ins; only scalars count', () => {
    const map = compileAttributeMap({
      language: '/resource/sys/language',
      version: '/resource/sys/version',
      draft: '/resource/sys/draft',
      sys: '/resource/sys',
      identifier: '/data/customer',
      missing: '/nope',
    });
    const a = map.of(
      event({
        id: '1',
        type: 'entry.created',
        resource: { sys: { language: 'fr-fr', version: 3, draft: false } },
        data: { customer: 'cust-9' },
      }),
    );
    assert.equal(a.language, 'fr-fr');
    assert.equal(a.version, '3');
    assert.equal(a.draft, 'false');
    assert.equal(a.sys, undefined);
    assert.equal(a.identifier, 'cust-9');
    assert.equal('missing' in a, false);
  });

  it('reports whether type, resourceType and event are the built-ins', () => {
    assert.equal(compileAttributeMap({ language: '/l' }).builtinType, true);
    assert.equal(compileAttributeMap({ event: '/event/name' }).builtinType, false);
  });
});
