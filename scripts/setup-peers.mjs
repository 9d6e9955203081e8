// Makes sure the real peers the integration and e2e tests start are on this
// machine: nats-server, OpenSSH's sshd, prometheus and promtool. `npm test`
// and CI (.ci/run) both run this one step before the tests.
//
// Missing ones are installed from Debian/Ubuntu packages when this runs as
// root with apt-get (one `apt-get update`, one `apt-get install -y`); otherwise
// it stops at once with one line naming what is missing and the command to
// install it. Installing must not start the packages' services (sshd on 22,
// Prometheus on 9090): a policy-rc.d that forbids starts is in place during
// the install, and recommended extras (node-exporter, systemd) are skipped.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Where the test helpers look for each binary, and the package that brings it. */
const PEERS = [
  { name: 'nats-server', pkg: 'nats-server', dirs: ['/usr/sbin', '/usr/bin', '/usr/local/bin'] },
  { name: 'sshd', pkg: 'openssh-server', dirs: ['/usr/sbin', '/usr/bin', '/usr/local/sbin'], onPath: false },
  { name: 'prometheus', pkg: 'prometheus', dirs: ['/usr/bin', '/usr/local/bin'] },
  { name: 'promtool', pkg: 'prometheus', dirs: ['/usr/bin', '/usr/local/bin'] },
];

function executable(path) {
  try {
    const st = statSync(path);
    accessSync(path, constants.X_OK);
    return st.isFile() && st.size > 0;
  } catch {
    return false;
  }
}

function find(peer) {
  const path = peer.onPath === false ? [] : (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  return [...peer.dirs, ...path].map((d) => join(d, peer.name)).find(executable);
}

const missing = () => PEERS.filter((p) => !find(p));
const packages = (peers) => [...new Set(peers.map((p) => p.pkg))];
const installArgs = (pkgs) => ['install', '-y', '--no-install-recommends', ...pkgs];
const command = (pkgs) =>
  `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get ${installArgs(pkgs).join(' ')}`;

const absent = missing();
if (absent.length === 0) process.exit(0);

const names = absent.map((p) => p.name).join(', ');
const pkgs = packages(absent);
const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
if (process.getuid?.() !== 0 || !hasApt) {
  const how = hasApt
    ? `as root run: ${command(pkgs)}`
    : `install the packages that provide them (Debian/Ubuntu: ${pkgs.join(' ')})`;
  console.error(`setup-peers: missing ${names} (the integration and e2e tests start them); ${how}`);
  process.exit(1);
}

console.error(`setup-peers: ${names} missing; installing ${pkgs.join(' ')} with apt-get`);
const policy = '/usr/sbin/policy-rc.d';
const ownPolicy = !existsSync(policy);
if (ownPolicy)
  writeFileSync(policy, '#!/bin/sh\n# setup-peers: no service starts during the install\nexit 101\n', {
    mode: 0o755,
  });
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const run = (args) => spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env }).status;
let status;
try {
  status = run(['update', '-qq']);
  if (status === 0) status = run(['-qq', ...installArgs(pkgs)]);
} finally {
  if (ownPolicy) rmSync(policy, { force: true });
}
const still = missing();
if (status !== 0 || still.length) {
  console.error(
    `setup-peers: apt-get failed (exit ${status}); still missing ${still.map((p) => p.name).join(', ') || 'nothing'}; try: ${command(pkgs)}`,
  );
  process.exit(1);
}
console.error(`setup-peers: installed ${pkgs.join(' ')}`);
