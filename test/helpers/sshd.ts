/**
 * Starts a real OpenSSH `sshd` serving SFTP (internal-sftp) on a free
 * loopback port, for tests. Host key and a client key are generated into a
 * temp dir; every session is forced into `internal-sftp -d <root>`, so
 * relative paths land under `root`.
 *
 * Key auth works for the user running the tests. Password auth (seed 000's
 * `user`/`password`) needs a real account with a password, and sshd without
 * PAM only checks /etc/shadow: `passwordUser()` creates (once) a dedicated
 * account `hookd-sftp-test` with a random password kept in a 0600 file under
 * the temp dir of the machine; it needs root.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { GiveUp, waitFor } from './wait.ts';

const SSHD = ['/usr/sbin/sshd', '/usr/bin/sshd', '/usr/local/sbin/sshd'];
export const PASSWORD_USER = 'hookd-sftp-test';

export interface Sshd {
  host: string;
  port: number;
  /** `SHA256:...` of the server's host key, as `ssh-keygen -l` prints it. */
  hostKey: string;
  /** The user key auth works for (the current user) and its private key (OpenSSH format). */
  user: string;
  privateKey: string;
  /** Where relative SFTP paths land. */
  root: string;
  /** sshd's log so far (LogLevel VERBOSE). */
  log(): string;
  /** Successful logins so far. */
  logins(): number;
  /** Stops sshd and every session it started, keeping `root`. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

function sshdBinary(): string {
  const bin = SSHD.find((p) => existsSync(p));
  if (!bin) {
    throw new Error(
      'OpenSSH sshd is not installed: run `apt-get install -y openssh-server` (Debian) and try again',
    );
  }
  return bin;
}

/** The SHA256 fingerprint of an OpenSSH public key line. */
export function fingerprint(publicKeyLine: string): string {
  const blob = Buffer.from(publicKeyLine.trim().split(/\s+/)[1], 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function keygen(path: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'hookd-test', '-f', path], {
    stdio: 'ignore',
  });
}

/**
 * The dedicated password account for seed 000 style logins: created when
 * missing, its password read from (or first written to) a 0600 file so
 * concurrent test runs agree on it.
 */
export function passwordUser(): { user: string; password: string } {
  if (process.getuid?.() !== 0) {
    throw new Error(`password auth needs the account ${PASSWORD_USER}, which only root can create`);
  }
  const file = join(tmpdir(), `${PASSWORD_USER}.password`);
  try {
    writeFileSync(file, randomBytes(18).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const password = readFileSync(file, 'utf8').trim();
  try {
    execFileSync('id', [PASSWORD_USER], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', PASSWORD_USER], {
        stdio: 'pipe',
      });
    } catch (err) {
      // A concurrent run may have created it a moment ago.
      execFileSync('id', [PASSWORD_USER], { stdio: 'ignore' });
      void err;
    }
  }
  execFileSync('chpasswd', { input: `${PASSWORD_USER}:${password}\n`, stdio: ['pipe', 'ignore', 'pipe'] });
  return { user: PASSWORD_USER, password };
}

export interface SshdOptions {
  /** chown `root` to this account so it can write there (for `passwordUser()`). */
  rootOwner?: string;
}

export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  const bin = sshdBinary();
  // sshd insists on its privilege separation directory.
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), 'hookd-sshd-'));
  const root = join(dir, 'root');
  mkdirSync(root);
  chmodSync(dir, 0o755);
  if (opts.rootOwner) {
    const uid = Number(execFileSync('id', ['-u', opts.rootOwner]).toString().trim());
    const gid = Number(execFileSync('id', ['-g', opts.rootOwner]).toString().trim());
    chownSync(root, uid, gid);
  }
  keygen(join(dir, 'host_ed25519'));
  keygen(join(dir, 'client_ed25519'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_ed25519.pub')));
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_ed25519')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin yes',
      'UsePAM no',
      'StrictModes no',
      'LogLevel VERBOSE',
      'MaxStartups 100',
      'MaxSessions 100',
      'Subsystem sftp internal-sftp',
      `ForceCommand internal-sftp -d ${root}`,
      '',
    ].join('\n'),
  );
  let log = '';
  const child: ChildProcess = spawn(bin, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (b: Buffer) => {
    log += b.toString();
  });
  try {
    await waitFor(
      `sshd (pid ${child.pid}) to listen on 127.0.0.1:${port}`,
      () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new GiveUp(`sshd exited (${child.exitCode ?? child.signalCode}) before listening:\n${log}`);
        return log.includes('Server listening on');
      },
      { timeoutMs: 20_000, saw: () => `its log:\n${log}` },
    );
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  /** Every process below the listener: per-connection monitors and their unprivileged children. */
  const sessions = (parent = child.pid): number[] => {
    let kids: number[];
    try {
      kids = execFileSync('pgrep', ['-P', String(parent)])
        .toString()
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
    return kids.flatMap((k) => [k, ...sessions(k)]);
  };
  const kill = async () => {
    // sshd -D forks a monitor per connection, which forks the process holding the socket;
    // both outlive the listener unless ended too.
    for (const pid of sessions()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
  };
  return {
    host: '127.0.0.1',
    port,
    hostKey: fingerprint(readFileSync(join(dir, 'host_ed25519.pub'), 'utf8')),
    user: userInfo().username,
    privateKey: readFileSync(join(dir, 'client_ed25519'), 'utf8'),
    root,
    log: () => log,
    logins: () => log.match(/Accepted (publickey|password) for/g)?.length ?? 0,
    kill,
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
