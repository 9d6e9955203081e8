/** Patterns for `events` and topic values, and topic lists. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePattern, compilePatterns, compileTopics } from '../../../src/rules/topic-match.ts';

describe('compilePattern', () => {
  const cases: [pattern: string, value: string | undefined, expected: boolean][] = [
    ['contact.created', 'contact.created', true],
    ['contact.created', 'contact.created2', false],
    ['contact.created', 'Contact.created', false],
    ['*', 'anything.at.all', true],
    ['*', '', true],
    ['*', undefined, false],
    ['contact.*', 'contact.created', true],
    ['contact.*', 'contact.a.b', true],
    ['contact.*', 'contact', false],
    ['contact.*', 'contacts.created', false],
    ['*.created', 'contact.created', true],
    ['*.created', 'a.b.created', true],
    ['*.created', 'created', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'a-b-c', true],
    ['a*b*c', 'a-c-b', false],
    ['ab*ba', 'aba', false],
    ['ab*ba', 'abba', true],
    ['*.*', 'x.y', true],
    ['*.*', 'xy', false],
    ['a.b', 'aXb', false],
    ['(x)+', '(x)+', true],
    ['(x)+', 'xx', false],
  ];
  for (const [p, v, want] of cases) {
    it(`${JSON.stringify(p)} ${want ? 'matches' : 'does not match'} ${JSON.stringify(v)}`, () => {
      assert.equal(compilePattern(p)(v), want);
    });
  }

  it('does not backtrack: a many-star pattern on a long non-matching value', () => {
    const m = compilePattern('*a*a*a*a*a*a*a*a*b');
    assert.equal(m('a'.repeat(200_000)), false);
  });

  it('compilePatterns is an OR', () => {
    const m = compilePatterns(['a.*', 'b.c']);
    assert.equal(m('a.x'), true);
    assert.equal(m('b.c'), true);
    assert.equal(m('b.d'), false);
  });
});

describe('compileTopics', () => {
  const topics = compileTopics([
    { resourceType: ['entry'], event: ['created', 'updated'], owner: ['t.durden'] },
    { resourceType: ['asset'], event: ['*'] },
  ]);

  it('OR over topics, AND over keys, OR over values', () => {
    assert.equal(topics.matches({ resourceType: 'entry', event: 'updated', owner: 't.durden' }), true);
    assert.equal(topics.matches({ resourceType: 'entry', event: 'updated', owner: 'm.singer' }), false);
    assert.equal(topics.matches({ resourceType: 'asset', event: 'deleted' }), true);
  });

  it('a key whose attribute is missing does not match, even with *', () => {
    assert.equal(topics.matches({ resourceType: 'entry', event: 'created' }), false);
    assert.equal(topics.matches({ resourceType: 'asset' }), false);
  });

  it('failures name the first failing key of every topic', () => {
    assert.deepEqual(topics.failures({ resourceType: 'entry', event: 'created' }), [
      { topic: 0, key: 'owner', actual: undefined, expected: ['t.durden'] },
      { topic: 1, key: 'resourceType', actual: 'entry', expected: ['asset'] },
    ]);
    assert.deepEqual(topics.failures({ resourceType: 'asset', event: 'x' }), []);
  });

  it('an empty topic matches every event', () => {
    assert.equal(compileTopics([{}]).matches({}), true);
  });
});
