/** The email transport's peer: a real `smtp-server` sink with AUTH on loopback. */
import { emailTransport } from '../../../src/transports/email/index.ts';
import { startSmtp } from '../../helpers/smtp.ts';
import { bodyFor, makeDelivery, type Peer, type PeerFactory } from './peer.ts';

export const emailPeer: PeerFactory = {
  name: 'email',
  async start(): Promise<Peer> {
    const sink = await startSmtp();
    const make = (marker: string, data: Record<string, unknown> = {}, to = 'ops@example.com') =>
      makeDelivery(
        'email',
        {
          host: '127.0.0.1',
          port: sink.port,
          secure: false,
          requireTLS: false,
          auth: { user: sink.user, pass: sink.password },
          from: 'hookd@example.com',
          to: '{/data/to}',
          subject: 'Event {/data/marker}',
          ...data,
        },
        { body: bodyFor(marker), fields: { from: 'hookd@example.com', to, subject: `Event ${marker}` } },
      );
    return {
      module: emailTransport,
      delivery: (marker) => make(marker),
      deliveryTo: (port, marker) => make(marker, { port }),
      async arrival(marker) {
        const m = sink.messages.find((x) => x.headers.subject === `Event ${marker}`);
        return m && { body: m.text ?? '', rendered: m.headers.subject, id: m.headers['message-id'] };
      },
      permanent: {
        'recipient rejected (SMTP 550)': {
          delivery: (m) => make(m, {}, 'reject@example.com'),
          error: /SMTP 550/,
        },
        'bad credentials (SMTP 535)': {
          delivery: (m) => make(m, { auth: { user: sink.user, pass: 'wrong-password' } }),
          error: /SMTP 535/,
        },
      },
      retryable: {
        'recipient deferred (SMTP 451)': {
          delivery: (m) => make(m, {}, 'defer@example.com'),
          error: /SMTP 451/,
        },
      },
      stop: () => sink.stop(),
    };
  },
};
