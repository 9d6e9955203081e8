/**
 * The bare pipe `npm run bench` measures hookd against: what a webhook relay
 * must do at the least, and nothing more. A JetStream pull consumer hands
 * each message to an undici POST signed like Standard Webhooks (HMAC-SHA256
 * over id.timestamp.body), 64 in flight, and acks it after the 2xx. No
 * rules, no templates, no store, no retries. Run as its own process so its
 * CPU, memory and disk writes are measured like hookd's.
 *
 * Environment: PIPE_NATS_URL, PIPE_STREAM, PIPE_CONSUMER, PIPE_TARGET,
 * PIPE_SECRET (whsec_…), PIPE_IN_FLIGHT (64).
 */
import { createHmac } from 'node:crypto';
import { AckPolicy, DeliverPolicy, type JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Agent, request } from 'undici';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`bare pipe: ${name} is not set`);
  return v;
};
const stream = env('PIPE_STREAM');
const durable = env('PIPE_CONSUMER');
const target = env('PIPE_TARGET');
const key = Buffer.from(env('PIPE_SECRET').slice('whsec_'.length), 'base64');
const inFlight = Number(process.env.PIPE_IN_FLIGHT ?? 64);

const nc = await connect({ servers: env('PIPE_NATS_URL') });
const jsm = await jetstreamManager(nc);
await jsm.consumers.add(stream, {
  durable_name: durable,
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  max_ack_pending: inFlight * 8,
});
const consumer = await jetstream(nc).consumers.get(stream, durable);
const agent = new Agent({ connections: inFlight, pipelining: 1, keepAliveTimeout: 60_000 });

let running = 0;
const waiting: JsMsg[] = [];

async function deliver(m: JsMsg): Promise<void> {
  const body = m.string();
  const id = `msg_${m.info.streamSequence}`;
  const ts = Math.floor(Date.now() / 1000).toString();
  const signature = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
  try {
    const r = await request(target, {
      method: 'POST',
      dispatcher: agent,
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': ts,
        'webhook-signature': `v1,${signature}`,
      },
      body,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    await r.body.dump();
    if (r.statusCode >= 200 && r.statusCode < 300) m.ack();
    else m.nak(1000);
  } catch {
    m.nak(1000);
  }
}

function pump(): void {
  while (running < inFlight && waiting.length > 0) {
    const m = waiting.shift()!;
    running++;
    void deliver(m).finally(() => {
      running--;
      pump();
    });
  }
}

const messages = await consumer.consume({ max_messages: 512 });
process.on('SIGTERM', () => {
  messages.stop();
  void nc.drain().finally(() => process.exit(0));
});
process.stdout.write('ready\n');
for await (const m of messages) {
  waiting.push(m);
  pump();
}
