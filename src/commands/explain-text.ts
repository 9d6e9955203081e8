/** `hookd explain`'s text output. */
import type { Report } from './explain-report.ts';

const BODY_PREVIEW = 2000;

export function formatText(r: Report, total: number): string {
  const lines: string[] = [];
  lines.push(
    `event ${r.event.id}  type ${JSON.stringify(r.event.type)}  subject ${r.event.subject}${
      r.event.source ? `  source ${r.event.source}` : ''
    }  at ${r.at}`,
  );
  lines.push(
    `attributes ${Object.entries(r.attributes)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ')}`,
  );
  lines.push('');
  lines.push(`webhooks (${total}, in dispatch order)`);
  const width = Math.min(36, Math.max(10, ...r.webhooks.map((w) => w.label.length)));
  const whereWidth = Math.max(0, ...r.webhooks.map((w) => (w.location ?? w.id).length));
  for (const w of r.webhooks) {
    const where = (w.location ?? w.id).padEnd(whereWidth);
    const prio = String(w.priority).padStart(2);
    lines.push(
      `  ${w.matched ? 'MATCH' : 'skip '}  ${w.label.padEnd(width)}  prio ${prio}  ${where}  ${w.detail}`,
    );
  }
  lines.push('');
  lines.push(r.winners.length ? `winners (${r.winners.length}, in dispatch order)` : 'winners: none');
  r.winners.forEach((w, i) => {
    lines.push(`  ${i + 1}. ${w.label} (${w.id})  ${w.type}${w.location ? `  ${w.location}` : ''}`);
    if (w.renderError) {
      lines.push(`     render failed, the delivery would fail permanently: ${w.renderError}`);
      return;
    }
    const req = w.request!;
    if (req.url !== undefined) lines.push(`     ${req.method ?? 'POST'} ${req.url}`);
    for (const [k, v] of Object.entries(req.headers)) lines.push(`     ${k}: ${v}`);
    for (const s of w.addedAtSend) lines.push(`     + ${s}`);
    const data = Object.entries(w.data);
    if (data.length && req.url === undefined) lines.push(`     data ${JSON.stringify(w.data)}`);
    for (const [k, v] of Object.entries(req.fields))
      lines.push(`     ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
    const body =
      req.body.length > BODY_PREVIEW
        ? `${req.body.slice(0, BODY_PREVIEW)}… (${req.body.length} bytes)`
        : req.body;
    lines.push(`     body (${req.contentType}) ${body}`);
  });
  return lines.join('\n');
}
