import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AddressPolicy,
  blockedReason,
  parseCidr,
  parseIp,
} from '../../../src/transports/net/address-policy.ts';

describe('address policy: addresses refused by default', () => {
  const cases: [string, RegExp][] = [
    ['127.0.0.1', /loopback/],
    ['127.255.0.9', /loopback/],
    ['::1', /loopback/],
    ['[::1]', /loopback/],
    ['10.0.0.1', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.1.1', /private/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['169.254.169.254', /metadata/],
    ['169.254.10.1', /link-local/],
    ['fd00:ec2::254', /metadata/],
    ['fc00::1', /unique local/],
    ['fd12:3456::1', /unique local/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['0.0.0.0', /unspecified/],
    ['::', /unspecified/],
    ['224.0.0.1', /multicast/],
    ['ff02::1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['::ffff:127.0.0.1', /loopback/],
    ['::ffff:7f00:1', /loopback/],
    ['::ffff:10.1.2.3', /private/],
    ['::ffff:169.254.169.254', /metadata/],
    ['64:ff9b::a9fe:a9fe', /metadata/],
    ['::127.0.0.1', /loopback/],
  ];
  for (const [address, reason] of cases) {
    it(`${address} is refused (${reason.source})`, () => {
      const r = blockedReason(address);
      assert.ok(r, `${address} was allowed`);
      assert.match(r, reason);
    });
  }
});

describe('address policy: public addresses pass', () => {
  for (const address of [
    '93.184.216.34',
    '8.8.8.8',
    '172.32.0.1',
    '172.15.255.255',
    '2606:4700::1111',
    '::ffff:8.8.8.8',
  ]) {
    it(`${address} is allowed`, () => assert.equal(blockedReason(address), undefined));
  }
});

describe('address policy: parsing', () => {
  it('expands IPv6 shorthand and embedded IPv4', () => {
    assert.deepEqual([...parseIp('::ffff:1.2.3.4')!], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]);
    assert.deepEqual([...parseIp('2001:db8::1')!].slice(0, 4), [0x20, 0x01, 0x0d, 0xb8]);
  });
  it('rejects what is not an address or a CIDR', () => {
    assert.equal(parseIp('example.com'), undefined);
    assert.equal(parseCidr('10.0.0.0/33'), undefined);
    assert.equal(parseCidr('10.0.0.0/x'), undefined);
    assert.equal(blockedReason('not-an-ip'), 'not an IP address');
  });
});

describe('address policy: settings', () => {
  it('allowPrivateNetworks allows everything', () => {
    const p = new AddressPolicy(true, []);
    assert.equal(p.check('x', '127.0.0.1'), undefined);
    assert.equal(p.check('x', '169.254.169.254'), undefined);
  });
  it('the allow list takes host names, *.suffixes, addresses and CIDRs', () => {
    const p = new AddressPolicy(false, [
      'sftp.internal',
      '*.corp.example',
      '10.1.2.3',
      '192.168.0.0/16',
      'fd00::/8',
    ]);
    assert.equal(p.check('sftp.internal', '10.9.9.9'), undefined);
    assert.equal(p.check('SFTP.Internal.', '10.9.9.9'), undefined);
    assert.equal(p.check('a.corp.example', '10.9.9.9'), undefined);
    assert.match(p.check('corp.example.evil', '10.9.9.9') ?? '', /private/);
    assert.equal(p.check('x', '10.1.2.3'), undefined);
    assert.match(p.check('x', '10.1.2.4') ?? '', /private/);
    assert.equal(p.check('x', '192.168.44.1'), undefined);
    assert.equal(p.check('x', '::ffff:192.168.44.1'), undefined);
    assert.equal(p.check('x', 'fd00::5'), undefined);
    assert.match(p.check('x', '127.0.0.1') ?? '', /loopback/);
  });
  it('an IPv4 range does not allow an IPv6 address that only ends like it', () => {
    const p = new AddressPolicy(false, ['10.0.0.0/8']);
    // fc00::a00:1 ends in 10.0.0.1 but is a unique local address, not IPv4-mapped.
    assert.match(p.check('x', 'fc00::a00:1') ?? '', /unique local/);
  });
});
