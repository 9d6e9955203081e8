/**
 * Template render throughput: renders/s for a pointer-only webhook (the
 * synchronous fast path) and for one with JSONata parts, plus a hand-written
 * function producing the same pointer-only request, as this machine's
 * ceiling. Not a test: it prints numbers for the README.
 *
 * Two rates per case: per second of wall-clock time, and per second of CPU
 * time this process used (what one core does when neighbours compete for it).
 *
 *   node --import tsx test/bench/templates.bench.ts [--seconds 2] [--only pointer|jsonata|sandbox|baseline]
 */
import { normalizeWebhook, type WebhookInput, WebhookInputSchema } from '../../src/rules/webhook-schema.ts';
import { Sandbox } from '../../src/sandbox/index.ts';
import type { HookEvent } from '../../src/source/event.ts';
import { compileWebhookTemplates, sandboxedJsonata } from '../../src/templates/index.ts';
import type { RenderedRequest } from '../../src/transports/contract.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const SECONDS = Number(arg('--seconds') ?? 2);
const ONLY = arg('--only');

function webhook(input: WebhookInput) {
  return normalizeWebhook(WebhookInputSchema.parse(input), {
    id: 'bench',
    source: 'api',
    resolveType: () => 'http',
  });
}

const hookEvent = (body: Record<string, unknown> & { id: string; type: string }): HookEvent => ({
  id: body.id,
  type: body.type,
  subject: `events.${body.type}`,
  body,
  data: body.data ?? body,
  extensions: {},
  receivedAt: 0,
});

// Seed 003: templated URL and header, the six-field `entry` body, chosen among `entry` and `entry.news`.
const entryEvent = (i: number) =>
  hookEvent({
    specversion: '1.0',
    id: `evt-${i}`,
    type: 'entry.created',
    source: 'contensis/movies',
    event: { name: 'created' },
    user: { firstname: 'Tyler', lastname: 'Durden' },
    resource: {
      'sys.id': `id-${i}`,
      sys: { id: `id-${i}`, contentTypeId: 'blog', language: 'fr-fr' },
      entryTitle: 'Le premier article',
      entryDescription: 'Un article sur le cinéma',
      department: 'Editorial',
    },
  });

const pointerOnly = compileWebhookTemplates(
  webhook({
    url: 'https://external.mywebsite.com/handlewebhooks/{/resource/sys.id}',
    headers: { target: { value: 'internal' }, department: { value: '{/resource/department}' } },
    templates: {
      entry: {
        event: '{/event/name}',
        user: '{/user/firstname} {/user/lastname}',
        id: '{/resource/sys/id}',
        title: '{/resource/entryTitle}',
        description: '{/resource/entryDescription}',
        department: '{/resource/department}',
      },
      'entry.news': { event: '{/event/name}', id: '{/resource/sys/id}', headline: '{/resource/headline}' },
    },
  }),
);

/** What a person would write by hand for the pointer-only webhook: the ceiling. */
function handWritten(event: HookEvent): RenderedRequest {
  // biome-ignore lint/suspicious/noExplicitAny: the baseline reads the known event shape directly, as hand-written code would.
  const e = event.body as any;
  const r = e.resource;
  return {
    method: 'POST',
    url: `https://external.mywebsite.com/handlewebhooks/${encodeURIComponent(r['sys.id'])}`,
    headers: { target: 'internal', department: r.department },
    body: `{"event":${JSON.stringify(e.event.name)},"user":${JSON.stringify(`${e.user.firstname} ${e.user.lastname}`)},"id":${JSON.stringify(r.sys.id)},"title":${JSON.stringify(r.entryTitle)},"description":${JSON.stringify(r.entryDescription)},"department":${JSON.stringify(r.department)}}`,
    contentType: 'application/json',
    fields: {},
  };
}

const orderEvent = (i: number) =>
  hookEvent({
    id: `ord-${i}`,
    type: 'order.created',
    data: {
      id: `A-${i}`,
      currency: 'EUR',
      customer: { firstName: 'Ada', lastName: 'Lovelace' },
      lines: [
        { sku: 'BOOK-1', quantity: 2, unitPrice: 12.5 },
        { sku: 'PEN-7', quantity: 3, unitPrice: 1.75 },
      ],
    },
  });

const orderWebhook = () =>
  webhook({
    url: 'https://shop.example.com/hooks/orders/{/data/id}',
    templates: {
      order: {
        orderId: '{/data/id}',
        customer: { jsonata: "data.customer.firstName & ' ' & data.customer.lastName" },
        total: { jsonata: '$sum(data.lines.(quantity * unitPrice))' },
        currency: '{/data/currency}',
      },
    },
  });
const withJsonata = compileWebhookTemplates(orderWebhook());
// As the daemon runs it: JSONata evaluated in the sandbox's worker, with its budget.
const sandbox = new Sandbox({ timeoutMs: 50, maxOutputBytes: 1 << 20 });
const inSandbox = compileWebhookTemplates(orderWebhook(), { jsonata: sandboxedJsonata(sandbox) });

const EVENTS = 1024;

async function measure(
  name: string,
  render: (e: HookEvent) => RenderedRequest | Promise<RenderedRequest>,
  make: (i: number) => HookEvent,
  /** Render the 1,024 events at once and then wait for all, as intake renders a batch. */
  batch = false,
): Promise<void> {
  const events = Array.from({ length: EVENTS }, (_, i) => make(i));
  let sink = 0;
  const run = async (ms: number) => {
    let n = 0;
    const end = performance.now() + ms;
    while (performance.now() < end) {
      // Batches of 1,024 keep the clock out of the loop.
      if (batch) {
        const rs = await Promise.all(events.map((e) => render(e)));
        for (const r of rs) sink += r.body.charCodeAt(r.body.length - 1);
        n += EVENTS;
        continue;
      }
      for (let i = 0; i < EVENTS; i++) {
        const r = render(events[i]!);
        const body = (r instanceof Promise ? await r : r).body;
        // Reading the last character flattens the string, as storing it would: no deferred work hides here.
        sink += body.charCodeAt(body.length - 1);
      }
      n += EVENTS;
    }
    return n;
  };
  await run(500); // warm up the JIT
  const start = performance.now();
  const cpu = process.cpuUsage();
  const n = await run(SECONDS * 1000);
  const used = process.cpuUsage(cpu);
  const wall = n / ((performance.now() - start) / 1000);
  const perCpu = n / ((used.user + used.system) / 1e6);
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US').padStart(10);
  console.log(
    `${name.padEnd(40)} ${fmt(wall)} renders/s  ${fmt(perCpu)} per CPU-second${sink < 0 ? '!' : ''}`,
  );
}

const loadavg = (await import('node:os')).loadavg();
console.log(
  `templates bench: node ${process.version}, ${SECONDS}s per case, load average ${loadavg[0]!.toFixed(2)}`,
);
if (!ONLY || ONLY === 'pointer')
  await measure('pointer-only (seed 003 entry)', (e) => pointerOnly.render(e), entryEvent);
if (!ONLY || ONLY === 'jsonata')
  await measure('JSONata (order with total)', (e) => withJsonata.render(e), orderEvent);
if (!ONLY || ONLY === 'jsonata')
  await measure('JSONata, batches of 1,024', (e) => withJsonata.render(e), orderEvent, true);
if (!ONLY || ONLY === 'sandbox')
  await measure('JSONata in the sandbox, batches of 1,024', (e) => inSandbox.render(e), orderEvent, true);
if (!ONLY || ONLY === 'baseline')
  await measure('baseline: hand-written seed 003 entry', handWritten, entryEvent);
await sandbox.close();
