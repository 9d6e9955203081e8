/**
 * Example transport plugin for seed 000's vendor type `binect-document`,
 * built on hookd's own HTTP transport: each delivery is POSTed to the
 * vendor's `data.endpoint` with `data.apiKey` as a bearer token and the
 * document name in `x-binect-document-name`. Everything else is the HTTP
 * transport's: the SSRF guard, timeouts, retry classification (5xx, 429 and
 * `Retry-After`, 410), and the Standard Webhooks signature when the webhook
 * has a `secret`. Load it with `plugins.dir: plugins/examples/binect-document`.
 *
 * The endpoint and header are illustrative, not Binect's published API:
 * adapt `send` to the vendor's request format and keep the rest.
 */
import { z } from 'zod';
import type { Delivery, SendResult, TransportModule } from '../../../src/transports/contract.ts';
import { createHttp } from '../../../src/transports/http/index.ts';

const DataSchema = z.strictObject({
  /** The vendor's upload URL (http or https). */
  endpoint: z.string().regex(/^https?:\/\/[^/]/i, 'an http(s) URL'),
  /** The vendor API key: write-only, never shown or logged. */
  apiKey: z.string().min(1),
  /** Template: the document's name. @default "<event id>.json" */
  documentName: z.string().min(1).optional(),
});
type Data = z.output<typeof DataSchema>;

const transport: TransportModule<Data> = {
  types: ['binect-document'],
  dataSchema: DataSchema,
  secretFields: ['apiKey'],
  templateFields: ['documentName'],
  create(ctx) {
    const http = createHttp(ctx);
    return {
      send(d: Delivery, signal: AbortSignal): Promise<SendResult> {
        const data = DataSchema.parse(d.webhook.data);
        const name = String(d.request.fields.documentName ?? `${d.eventId}.json`);
        // The same delivery, addressed to the vendor: the HTTP transport does the rest.
        return http.send(
          {
            ...d,
            request: {
              ...d.request,
              method: 'POST',
              url: data.endpoint,
              headers: { ...d.request.headers, 'x-binect-document-name': name },
            },
            webhook: {
              ...d.webhook,
              data: { maxRedirects: 0 },
              headers: {
                ...d.webhook.headers,
                // A secret header: added per attempt, never stored with the rendered request.
                authorization: { value: `Bearer ${data.apiKey}`, secret: true },
              },
            },
          },
          signal,
        );
      },
      close: () => http.close(),
    };
  },
};

export default transport;
