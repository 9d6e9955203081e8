/**
 * Issue 3, acceptance 6: `hookd explain` on the seed 000 and seed 003
 * examples prints every webhook with its reason and the winners' requests,
 * secrets redacted.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type Report, runExplain } from '../../../src/commands/explain.ts';
import { FIXTURES } from './helpers.ts';

async function run(argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await runExplain(argv, { stdout: (s) => stdout.push(s), stderr: (s) => stderr.push(s) });
  return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}

const AT = '2026-03-01T00:00:00Z';
const seed000 = (eventFile: string, ...more: string[]) =>
  run([
    '--event',
    `${FIXTURES}seed-000/events/${eventFile}`,
    '--config',
    `${FIXTURES}seed-000/hookd.yaml`,
    '--rules',
    `${FIXTURES}seed-000/rules`,
    '--at',
    AT,
    ...more,
  ]);
const seed003 = (eventFile: string, ...more: string[]) =>
  run([
    '--event',
    `${FIXTURES}seed-003/events/${eventFile}`,
    '--config',
    `${FIXTURES}seed-003/hookd.yaml`,
    '--rules',
    `${FIXTURES}seed-003/rules`,
    '--at',
    AT,
    ...more,
  ]);

const rowOf = (text: string, prio: number) => {
  const row = text.split('\n').find((l) => new RegExp(`prio +${prio} `).test(l));
  assert.ok(row, `no row with prio ${prio} in:\n${text}`);
  return row;
};

describe('hookd explain: seed 000', () => {
  it('balance 5: the conditional webhook wins its group; every other webhook says why not', async () => {
    const r = await seed000('balance-5.json');
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      rowOf(r.stdout, 0),
      /skip +other-customer .*identifier mismatch: the event is for "my-webhook"/,
    );
    assert.match(
      rowOf(r.stdout, 1),
      /MATCH +my-webhook .*seed-000\.yaml:6 .*won group "my_group": groupCondition is true/,
    );
    assert.match(rowOf(r.stdout, 2), /skip +my-webhook .*lost group "my_group" to my-webhook \(/);
    assert.match(rowOf(r.stdout, 3), /skip .*inactive/);
    assert.match(rowOf(r.stdout, 4), /skip .*outside its window: active until 2025-01-01/);
    assert.match(r.stdout, /winners \(1, in dispatch order\)\n {2}1\. my-webhook \(.*\) {2}sftp-document/);
    assert.match(r.stdout, /directory: sftp-directory\/sub-directory/);
  });

  it('balance 0: the condition is false and the fallback wins', async () => {
    const r = await seed000('balance-0.json');
    assert.match(rowOf(r.stdout, 1), /skip .*groupCondition is false: data\['contract'\]\['balance'\] > 0/);
    assert.match(rowOf(r.stdout, 2), /MATCH .*won group "my_group" as its fallback/);
    assert.match(r.stdout, /POST https:\/\/billing\.example\.com\/hooks\/my-webhook\/doc-0002/);
  });

  it('no contract: the condition error is shown and the fallback wins', async () => {
    const r = await seed000('no-contract.json');
    assert.match(rowOf(r.stdout, 1), /groupCondition failed \(counts as false\): No such key: contract/);
    assert.match(rowOf(r.stdout, 2), /MATCH/);
  });

  it('--json gives reasons as data, winners in dispatch order, and no secret anywhere', async () => {
    const r = await seed000('balance-5.json', '--json');
    const report = JSON.parse(r.stdout) as Report;
    assert.deepEqual(
      report.webhooks.map((w) => (w.matched ? 'matched' : w.reason!.code)),
      ['identifier', 'matched', 'group-lost', 'inactive', 'expired'],
    );
    assert.deepEqual(
      report.winners.map((w) => w.identifier),
      ['my-webhook'],
    );
    assert.equal(report.winners[0]!.data.password, '<redacted>');
    assert.equal(report.attributes.identifier, 'my-webhook');
    for (const secret of ['sftp-password', 'whsec_', 'k-123456'])
      assert.ok(!r.stdout.includes(secret), secret);
  });

  it('--at moves the window: before activeFrom the seed webhook is outside it', async () => {
    const r = await seed000('balance-5.json', '--at', '2023-06-01T00:00:00Z');
    assert.match(rowOf(r.stdout, 1), /outside its window: active from 2024-01-01T00:00:00\.000Z/);
    assert.match(rowOf(r.stdout, 2), /MATCH/);
    assert.match(rowOf(r.stdout, 4), /MATCH/);
  });
});

describe('hookd explain: seed 003', () => {
  const files = [
    'topic0-entry-created-blog-fr.json',
    'topic1-entry-published-news.json',
    'topic2-content-type-created.json',
    'topic3-workflow-submit-blog.json',
    'topic4-workflow-declined-news.json',
    'topic5-workflow-state-blog.json',
  ];
  files.forEach((file, i) => {
    it(`${file}: the seed webhook matches through topic #${i}`, async () => {
      const r = await seed003(file, '--json');
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout) as Report;
      const seed = report.webhooks.find((w) => w.label === 'name')!;
      assert.equal(seed.matched, true);
      assert.match(seed.detail, new RegExp(`^matched topic #${i}$`));
      assert.ok(report.winners.some((w) => w.id === seed.id));
    });
  });

  it('shows the rendered request of each winner with the seed template, secret header redacted', async () => {
    const r = await seed003('topic1-entry-published-news.json');
    assert.match(r.stdout, /winners \(2, in dispatch order\)/);
    assert.match(
      r.stdout,
      /POST https:\/\/external\.mywebsite\.com\/handlewebhooks\/9b1c2f3a-0d1e-4a5b-8c7d-6e5f4a3b2c1d/,
    );
    assert.match(r.stdout, /department: Editorial & Web/);
    assert.match(r.stdout, /\+ header secretHeaderSet: <redacted> \(secret header\)/);
    assert.match(r.stdout, /"headline":null/);
    assert.match(r.stdout, /\+ authorization: Bearer <redacted>/);
    for (const secret of ['cs7vdsdvj~8', 'nd-token-0123456789'])
      assert.ok(!r.stdout.includes(secret), secret);
  });

  it('names the failing topic key of a webhook that does not match', async () => {
    const r = await seed003('topic0-entry-created-blog-fr.json');
    assert.match(r.stdout, /skip +news-desk .*topics: #0 event is "created", wanted "published"/);
    assert.match(r.stdout, /attributes .*language="fr-fr" contentTypeId="blog" owner="t.durden"/);
  });

  it('explains every event of an array, in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookd-explain-'));
    const file = join(dir, 'events.json');
    const events = files.map(
      (f) => JSON.parse(readFileSync(`${FIXTURES}seed-003/events/${f}`, 'utf8')) as unknown,
    );
    writeFileSync(file, JSON.stringify(events));
    try {
      const r = await run([
        '--event',
        file,
        '--config',
        `${FIXTURES}seed-003/hookd.yaml`,
        '--rules',
        `${FIXTURES}seed-003/rules`,
        '--json',
      ]);
      const reports = JSON.parse(r.stdout) as Report[];
      assert.deepEqual(
        reports.map((x) => [x.event.id, x.winners.length]),
        [
          ['evt-0001', 1],
          ['evt-0002', 2],
          ['evt-0003', 1],
          ['evt-0004', 1],
          ['evt-0005', 1],
          ['evt-0006', 1],
        ],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('hookd explain: redaction', () => {
  it('hides signing secrets, secret headers, credentials, URL passwords and secret transport fields', async () => {
    const r = await run([
      '--event',
      `${FIXTURES}redaction/event.json`,
      '--config',
      `${FIXTURES}seed-000/hookd.yaml`,
      '--rules',
      `${FIXTURES}redaction/rules`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    for (const secret of [
      'whsec_',
      'url-pass-123',
      'header-token-456',
      'secret-header-789',
      'basic-pass-000',
      'super-strong-pawwsord',
      'sftp-key-111',
      'sftp-passphrase-222',
      'nats-token-333',
    ]) {
      assert.ok(!r.stdout.includes(secret), `${secret} leaked:\n${r.stdout}`);
    }
    assert.match(r.stdout, /POST https:\/\/hook-user:<redacted>@hooks\.example\.com\/in/);
    assert.match(r.stdout, /X-Plain: plain-value/);
    assert.match(r.stdout, /\+ authorization: Basic <redacted> \(user ops\)/);
    assert.match(
      r.stdout,
      /\+ Authorization: Bearer <redacted> \(OAuth2 token from https:\/\/auth\.example\.com\/token\)/,
    );
    assert.match(r.stdout, /subject: hooks\.audit\.logged/);
  });
});

describe('hookd explain: errors', () => {
  it('usage errors exit 2', async () => {
    assert.equal((await run([])).code, 2);
    assert.equal((await run(['--event', 'x.json', '--bogus'])).code, 2);
    assert.equal((await run(['--event', 'x.json', '--at', 'yesterday-ish'])).code, 2);
  });

  it('a condition syntax error is reported as file:line:col and exits 1', async () => {
    const r = await run([
      '--event',
      `${FIXTURES}redaction/event.json`,
      '--config',
      `${FIXTURES}seed-000/hookd.yaml`,
      '--rules',
      `${FIXTURES}bad-condition/rules`,
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /bad\.yaml:7:\d+: webhooks\[1\]\.groupCondition: invalid CEL: .*\(at column \d+\)/,
    );
  });

  it('a broken plugin is a config error naming its file, as in hookd check (issue 12 bug 2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookd-explain-plugin-'));
    try {
      const plugins = join(dir, 'plugins');
      mkdirSync(plugins);
      writeFileSync(join(plugins, 'broken.mjs'), 'export default { types: [] };\n');
      writeFileSync(join(dir, 'hookd.yaml'), `plugins:\n  dir: ${plugins}\n`);
      const r = await run([
        '--event',
        `${FIXTURES}redaction/event.json`,
        '--config',
        join(dir, 'hookd.yaml'),
        '--rules',
        `${FIXTURES}redaction/rules`,
      ]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        `${join(plugins, 'broken.mjs')}:1:1: plugin: is not a valid transport module: "types" must be a non-empty list of type names`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing or invalid event file exits 1 and says why', async () => {
    const missing = await seed000('nope.json');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read --event/);
    const notObject = await run([
      '--event',
      `${FIXTURES}seed-003/hookd.yaml`,
      '--config',
      `${FIXTURES}seed-000/hookd.yaml`,
      '--rules',
      `${FIXTURES}seed-000/rules`,
    ]);
    assert.equal(notObject.code, 1);
    assert.match(notObject.stderr, /not JSON/);
  });
});
