/**
 * Issue 13, failure 11: `..` from event data in a URL path segment
 * (`/tenants/{/data/t}/hooks`, t = "..") escaped its segment and reached
 * `/hooks`. Percent-encoding cannot help (the WHATWG URL parser treats `%2E%2E`
 * as `..` too), so a value that would become a dot segment is a permanent
 * render failure naming the placeholder; every other value stays one segment.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RenderError } from '../../../src/templates/index.ts';
import { compileUrlTemplate } from '../../../src/templates/url-template.ts';

const url = (source: string, data: Record<string, unknown>) =>
  compileUrlTemplate(source, ['url']).render({ data });
const segments = (u: string) => new URL(u).pathname.split('/');

describe('dot segments from event data', () => {
  for (const t of ['..', '.']) {
    it(`"${t}" as a whole segment does not leave it`, () => {
      assert.throws(
        () => url('https://h.example/tenants/{/data/t}/hooks', { t }),
        (err: unknown) =>
          err instanceof RenderError &&
          /\{\/data\/t\}/.test(err.message) &&
          /dot segment/.test(err.message) &&
          err.path.join('.') === 'url',
      );
    });
  }

  it('a dot segment made of a literal and a value is refused too', () => {
    assert.throws(() => url('https://h.example/tenants/.{/data/t}/hooks', { t: '.' }), RenderError);
    assert.throws(() => url('https://h.example/a/{/data/x}{/data/y}/b', { x: '.', y: '.' }), RenderError);
  });

  it('other values stay one segment', () => {
    for (const t of ['...', '..a', 'a..', '../x', 'a/../..', '.hidden', '%2e%2e', '.%2E']) {
      const u = url('https://h.example/tenants/{/data/t}/hooks', { t });
      assert.equal(segments(u).length, 4, `${t} → ${u}`);
      assert.equal(decodeURIComponent(segments(u)[2]!), t, u);
      assert.equal(segments(u)[3], 'hooks');
    }
  });

  it('dots in the query are left alone', () => {
    assert.equal(url('https://h.example/x?t={/data/t}', { t: '..' }), 'https://h.example/x?t=..');
  });
});
