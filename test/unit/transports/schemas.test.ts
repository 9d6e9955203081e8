import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EmailDataSchema } from '../../../src/transports/email/index.ts';
import { tokenHeader } from '../../../src/transports/http/oauth2.ts';
import { NatsDataSchema } from '../../../src/transports/nats/index.ts';
import { SftpDataSchema } from '../../../src/transports/sftp/index.ts';

describe('sftp data schema', () => {
  it("accepts seed 000's example data as written, with defaults", () => {
    const seed = {
      host: 'sftp.example.com',
      user: 'sftp-user',
      password: 'sftp-password',
      directory: 'sftp-directory/sub-directory',
      port: 22,
    };
    assert.deepEqual(SftpDataSchema.parse(seed), {
      ...seed,
      insecureSkipHostKeyVerification: false,
      contentEncoding: 'utf8',
      createDirectories: true,
    });
  });
  it('needs a password or a private key', () => {
    const r = SftpDataSchema.safeParse({ host: 'h', user: 'u' });
    assert.equal(r.success, false);
    assert.deepEqual(
      r.error?.issues.map((i) => i.path),
      [['password']],
    );
  });
  it('takes host keys as SHA256 fingerprints', () => {
    const ok = SftpDataSchema.safeParse({
      host: 'h',
      user: 'u',
      password: 'p',
      hostKey: `SHA256:${'a'.repeat(43)}`,
    });
    assert.equal(ok.success, true);
    const md5 = SftpDataSchema.safeParse({ host: 'h', user: 'u', password: 'p', hostKey: 'MD5:aa:bb' });
    assert.equal(md5.success, false);
  });
  it('rejects unknown keys (typos)', () => {
    assert.equal(
      SftpDataSchema.safeParse({ host: 'h', user: 'u', password: 'p', directroy: 'x' }).success,
      false,
    );
  });
});

describe('email data schema', () => {
  it('needs host, from and to; recipients may be a list', () => {
    assert.equal(EmailDataSchema.safeParse({ host: 'h', from: 'a@x', to: ['b@x', 'c@x'] }).success, true);
    const r = EmailDataSchema.safeParse({ host: 'h' });
    assert.deepEqual(r.error?.issues.map((i) => i.path[0]).sort(), ['from', 'to']);
  });
  it('attachments default to base64', () => {
    const d = EmailDataSchema.parse({
      host: 'h',
      from: 'a',
      to: 'b',
      attachments: [{ filename: 'f', content: '{/d}' }],
    });
    assert.equal(d.attachments?.[0].encoding, 'base64');
  });
});

describe('nats data schema', () => {
  it('needs a nats:// or tls:// url without credentials in it', () => {
    assert.equal(NatsDataSchema.safeParse({ url: 'nats://n:4222', subject: 's' }).success, true);
    assert.equal(NatsDataSchema.safeParse({ url: 'tls://n:4222', subject: 's' }).success, true);
    assert.equal(NatsDataSchema.safeParse({ url: 'nats://u:p@n:4222', subject: 's' }).success, false);
    assert.equal(NatsDataSchema.safeParse({ url: 'http://n', subject: 's' }).success, false);
    assert.equal(NatsDataSchema.parse({ url: 'nats://n', subject: 's' }).jetstream, true);
  });
});

describe('OAuth2 header format', () => {
  it('fills %ACCESS_TOKEN% (and %TOKEN_TYPE%) into the configured header', () => {
    const auth = {
      grant_type: 'client_credentials' as const,
      endpoint: 'https://auth.example.com/token',
      credentials: { client_id: 'a', client_secret: 'b' },
      header_format: 'X-Auth',
      header_value_format: '%TOKEN_TYPE% %ACCESS_TOKEN%',
    };
    assert.deepEqual(tokenHeader(auth, { value: 'abc', type: 'Bearer', refreshAt: 0 }), [
      'x-auth',
      'Bearer abc',
    ]);
  });
});
