/**
 * Issue 12, acceptance 2 (and bugs 1 and 2): `hookd explain --json` on an
 * event shows, for each winner, the body a real receiver gets from the
 * running daemon for the same event, byte for byte. Checked for every webhook
 * of the fixture rule sets (pointed at a local receiver), for templates chosen
 * by a configured `contentTypeId` pointer (bug 1), and for a webhook created
 * through the API (explain reads API webhooks from the store, bug 2).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { type Report, runExplain } from '../../src/commands/index.ts';
import { type RunningHookd, startHookd } from '../helpers/hookd.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

const FIXTURES = 'test/fixtures/rules';
type Obj = Record<string, unknown>;

let receiver: Receiver;
before(async () => {
  receiver = await startReceiver();
});
after(() => receiver.close());

/** The fixture's webhooks, each made an http webhook posting to `/<set>/<n>` of the receiver. */
function localRules(set: string, webhooks: Obj[]): string {
  return stringify({
    webhooks: webhooks.map((w, n) => {
      const { authentication: _a, data: _d, type: _t, url: _u, hooks: _h, ...rest } = w;
      return { ...rest, url: `${receiver.url}/${set}/${n}` };
    }),
  });
}

async function explain(args: string[]): Promise<Report> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runExplain([...args, '--json'], {
    stdout: (s) => out.push(s),
    stderr: (s) => err.push(s),
  });
  assert.equal(code, 0, err.join('\n'));
  return JSON.parse(out.join('\n')) as Report;
}

/** Sends `event` to the daemon and compares every winner's body with what the receiver got. */
async function sameBodies(hookd: RunningHookd, configFile: string, eventFile: string): Promise<number> {
  const report = await explain([
    '--config',
    configFile,
    '--rules',
    hookd.dirs.rulesDir,
    '--event',
    eventFile,
  ]);
  const seen = receiver.requests.length;
  const r = await fetch(`${hookd.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: readFileSync(eventFile),
  });
  assert.equal(r.status, 202, await r.text());
  const got = await waitFor(
    `${report.winners.length} deliveries of ${eventFile}`,
    () => receiver.requests.length - seen >= report.winners.length && receiver.requests.slice(seen),
    { saw: () => receiver.requests.slice(seen).map((q) => q.url) },
  );
  assert.equal(got.length, report.winners.length, `${eventFile}: explain and run disagree on the winners`);
  for (const w of report.winners) {
    assert.equal(w.renderError, undefined, `${eventFile}: ${w.id}: ${w.renderError}`);
    const path = new URL(w.request!.url!).pathname;
    const q = got.find((x) => x.url === path);
    assert.ok(q, `${eventFile}: ${w.id}: the receiver got nothing at ${path}`);
    assert.equal(q.body, w.request!.body, `${eventFile}: ${w.id}: explain's body is not what run sent`);
  }
  return report.winners.length;
}

for (const set of readdirSync(FIXTURES)) {
  const dir = join(FIXTURES, set);
  const rulesDir = join(dir, 'rules');
  const files = readdirSync(dir);
  if (!files.includes('rules') || set === 'bad-condition') continue;
  const events = files.includes('events')
    ? readdirSync(join(dir, 'events')).map((f) => join(dir, 'events', f))
    : files.filter((f) => f.endsWith('.json')).map((f) => join(dir, f));
  describe(`explain and run agree: ${set}`, () => {
    let hookd: RunningHookd;
    let configFile: string;
    before(async () => {
      const webhooks = readdirSync(rulesDir).flatMap(
        (f) => (parse(readFileSync(join(rulesDir, f), 'utf8')) as { webhooks: Obj[] }).webhooks,
      );
      const config = files.includes('hookd.yaml')
        ? (parse(readFileSync(join(dir, 'hookd.yaml'), 'utf8')) ?? {})
        : {};
      hookd = await startHookd({ rules: { 'local.yaml': localRules(set, webhooks) }, config });
      configFile = join(hookd.dirs.dir, 'explain.yaml');
      writeFileSync(configFile, stringify({ ...config, store: { path: hookd.dirs.storePath } }));
    });
    after(() => hookd?.stop());
    it('every event: the winners and their bodies', async () => {
      let delivered = 0;
      for (const e of events) delivered += await sameBodies(hookd, configFile, e);
      assert.ok(delivered > 0, `no event of ${set} had a winner: the comparison proved nothing`);
    });
  });
}

describe('explain and run agree: templates by a configured contentTypeId (bug 1), an API webhook (bug 2)', () => {
  let hookd: RunningHookd;
  let configFile: string;
  let eventFile: string;
  const events = { attributes: { contentTypeId: '/meta/ct' } };
  before(async () => {
    hookd = await startHookd({
      rules: {
        'typed.yaml': stringify({
          webhooks: [
            {
              identifier: 'typed',
              url: `${receiver.url}/typed`,
              templates: { 'entry.blogPost': { kind: 'blog' }, entry: { kind: 'generic' } },
            },
          ],
        }),
      },
      config: { events },
    });
    configFile = join(hookd.dirs.dir, 'explain.yaml');
    writeFileSync(configFile, stringify({ events, store: { path: hookd.dirs.storePath } }));
    eventFile = join(hookd.dirs.dir, 'event.json');
    writeFileSync(
      eventFile,
      JSON.stringify({ id: 'e-typed', type: 'entry.created', meta: { ct: 'blogPost' } }),
    );
  });
  after(() => hookd?.stop());

  it('the template of the event content type, in explain and in the delivery', async () => {
    assert.equal(await sameBodies(hookd, configFile, eventFile), 1);
    assert.equal(receiver.requests.find((q) => q.url === '/typed')?.body, '{"kind":"blog"}');
  });

  it('an API-created webhook is explained with the body it is sent', async () => {
    const r = await fetch(`${hookd.url}/v1/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        identifier: 'from-api',
        url: `${receiver.url}/api`,
        templates: { 'entry.blogPost': { api: '{/meta/ct}' } },
      }),
    });
    assert.equal(r.status, 201, await r.text());
    const second = join(hookd.dirs.dir, 'event-2.json');
    writeFileSync(second, JSON.stringify({ id: 'e-api', type: 'entry.created', meta: { ct: 'blogPost' } }));
    assert.equal(await sameBodies(hookd, configFile, second), 2);
    assert.equal(receiver.requests.find((q) => q.url === '/api')?.body, '{"api":"blogPost"}');
  });
});
