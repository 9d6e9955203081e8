// A demo webhook receiver: prints each request and checks its Standard Webhooks signature.
// usage: node scripts/receiver.mjs [port] [secret]
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

const port = Number(process.argv[2] ?? 9999);
const secret = process.argv[3] ?? 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const wh = new Webhook(secret);
createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    let verified = 'no signature';
    if (req.headers['webhook-signature']) {
      try {
        wh.verify(body, req.headers);
        verified = 'signature OK';
      } catch (err) {
        verified = `signature INVALID (${err.message})`;
      }
    }
    console.log(
      `${req.method} ${req.url} webhook-id=${req.headers['webhook-id'] ?? '-'} ${verified}\n  ${body}`,
    );
    res.writeHead(204).end();
  });
}).listen(port, '127.0.0.1', () => console.log(`receiver listening on http://127.0.0.1:${port}`));
