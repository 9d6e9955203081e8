/** The http transport's peer: a real HTTP server; `/status/NNN` answers NNN. */
import { httpTransport } from '../../../src/transports/http/index.ts';
import { startReceiver } from '../../helpers/http-receiver.ts';
import { bodyFor, makeDelivery, type Peer, type PeerFactory } from './peer.ts';

export const httpPeer: PeerFactory = {
  name: 'http',
  async start(): Promise<Peer> {
    const rx = await startReceiver((req, res) => {
      const status = /^\/status\/(\d{3})/.exec(req.path)?.[1];
      res.statusCode = status ? Number(status) : 200;
      res.end(status ? `answered ${status}` : 'ok');
    });
    const to = (origin: string, path: string, marker: string) =>
      makeDelivery('http', {}, { method: 'POST', url: `${origin}${path}`, body: bodyFor(marker) });
    return {
      module: httpTransport,
      delivery: (marker) => to(rx.origin, `/hooks/${marker}`, marker),
      deliveryTo: (port, marker) => to(`http://127.0.0.1:${port}`, `/hooks/${marker}`, marker),
      async arrival(marker) {
        const r = rx.requests.find((q) => q.path === `/hooks/${marker}`);
        return r && { body: r.body, rendered: r.path };
      },
      permanent: {
        'HTTP 400': { delivery: (m) => to(rx.origin, '/status/400', m), error: /HTTP 400/ },
        'HTTP 404': { delivery: (m) => to(rx.origin, '/status/404', m), error: /HTTP 404/ },
        'HTTP 410 (stops the webhook)': {
          delivery: (m) => to(rx.origin, '/status/410', m),
          error: /410 Gone/,
        },
      },
      retryable: {
        'HTTP 503': { delivery: (m) => to(rx.origin, '/status/503', m), error: /HTTP 503/ },
        'HTTP 500': { delivery: (m) => to(rx.origin, '/status/500', m), error: /HTTP 500/ },
        'HTTP 429': { delivery: (m) => to(rx.origin, '/status/429', m), error: /HTTP 429/ },
      },
      stop: () => rx.stop(),
    };
  },
};
