/** The sftp transport's peer: a real OpenSSH sshd (internal-sftp) on loopback, key auth. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sftpTransport } from '../../../src/transports/sftp/index.ts';
import { startSshd } from '../../helpers/sshd.ts';
import { bodyFor, makeDelivery, type Peer, type PeerFactory } from './peer.ts';

export const sftpPeer: PeerFactory = {
  name: 'sftp',
  async start(): Promise<Peer> {
    const sshd = await startSshd();
    const base = {
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      privateKey: sshd.privateKey,
      hostKey: sshd.hostKey,
      directory: 'in/{/data/marker}',
      createDirectories: true,
      insecureSkipHostKeyVerification: false,
      contentEncoding: 'utf8',
    };
    const make = (marker: string, data: Record<string, unknown> = {}) => {
      const d = makeDelivery(
        'sftp',
        { ...base, ...data },
        { body: bodyFor(marker), fields: { directory: `in/${marker}` } },
      );
      d.eventId = marker;
      return d;
    };
    return {
      module: sftpTransport,
      delivery: (marker) => make(marker),
      deliveryTo: (port, marker) => make(marker, { port }),
      async arrival(marker) {
        const rel = `in/${marker}/${marker}.json`;
        try {
          return { body: readFileSync(join(sshd.root, rel), 'utf8'), rendered: rel };
        } catch {
          return undefined;
        }
      },
      permanent: {
        'bad credentials': {
          delivery: (m) => make(m, { privateKey: undefined, password: 'not-the-password' }),
          error: /login rejected/,
        },
        'host key mismatch': {
          delivery: (m) => make(m, { hostKey: `SHA256:${'x'.repeat(43)}` }),
          error: /host key mismatch/,
        },
        'missing directory without createDirectories': {
          delivery: (m) => {
            const d = make(m, { createDirectories: false });
            d.request.fields.directory = `absent/${m}`;
            return d;
          },
          error: /no such file/,
        },
      },
      retryable: {},
      stop: () => sshd.stop(),
    };
  },
};
