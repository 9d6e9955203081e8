/**
 * Seed 001 (SuperOffice Webhook agent). `CreateDefaultWebhook` answers `200`
 * with the defaults of a new webhook in SuperOffice's PascalCase entity;
 * nothing is stored. Its companion `SaveWebhook` (the agent's next step:
 * fill in the defaults, then save) creates the webhook when `WebhookId` is
 * 0 and updates it otherwise, mapping `Name`, `Events`, `TargetUrl`,
 * `Secret`, `State`, `Type`, `Headers` and `Properties` onto the one model.
 * `WebhookId` is the webhook's integer number; `State` is `Active`,
 * `Stopped` or `TooManyErrors`, or the seed's numbers for them (1, 2, 3).
 * `Secret` (and a secret header) is a string, as the seed documents it: a
 * set one reads `"********"`, and `"********"` sent back keeps it.
 */
import type { Webhook } from '../../rules/index.ts';
import { ApiError, invalidBody, notFound } from '../errors.ts';
import { isSecretSet } from '../redact.ts';
import { jsonBody, type Route } from '../routes.ts';
import { defaultWebhook } from '../webhooks.ts';
import { authorize, type DialectDeps, errorResponses, isObject } from './dialect.ts';

const TO_MODEL: Record<string, string> = {
  Name: 'name',
  Events: 'events',
  TargetUrl: 'url',
  Secret: 'secret',
  State: 'state',
  Type: 'type',
  Headers: 'headers',
  Properties: 'properties',
};
/** Read-only members of the entity: accepted (a saved entity sent back) and ignored. */
const READ_ONLY = new Set(['WebhookId', 'Registered', 'RegisteredAssociate', 'Updated', 'UpdatedAssociate']);
const FROM_MODEL: Record<string, string> = {
  ...Object.fromEntries(Object.entries(TO_MODEL).map(([k, v]) => [v, k])),
  identifier: 'Name',
  targetUrl: 'TargetUrl',
  hooks: 'TargetUrl',
  data: 'Type',
};

/** Model paths in SuperOffice's names: `url` → `TargetUrl`, `headers.X` → `Headers.X`. */
export const toPascalPath = (path: readonly PropertyKey[]): PropertyKey[] => {
  const [head, ...rest] = path;
  if (typeof head !== 'string') return [...path];
  return [FROM_MODEL[head] ?? head.charAt(0).toUpperCase() + head.slice(1), ...rest];
};

const associate = (name: string | undefined) => (name ? { Name: name } : null);

/** What a set secret reads as: a string, as the seed documents `Secret`. */
export const SECRET_MASK = '********';
/** Seed 001: "1=Active, 2=Stopped or 3=TooManyErrors". */
const STATES: Record<number, string> = { 1: 'Active', 2: 'Stopped', 3: 'TooManyErrors' };
/** A secret value sent back as read: keep the stored one. */
const isMasked = (v: unknown) => v === SECRET_MASK || isSecretSet(v);

export function superOfficeView(w: Webhook, number: number, deps: DialectDeps): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const [name, h] of Object.entries(w.headers)) {
    if (h.value === undefined) continue;
    headers[name] = h.secret ? SECRET_MASK : h.value;
  }
  return {
    WebhookId: number,
    Name: typeof w.name === 'string' ? w.name : w.identifier,
    Events: w.events ?? [],
    TargetUrl: w.url ?? '',
    Secret: w.secret ? SECRET_MASK : '',
    State: deps.stateOf(w),
    // 'webhook' is the seed's name for the system HTTP plugin.
    Type: w.type === 'http' ? 'webhook' : w.typeName,
    Headers: headers,
    Properties: w.properties ?? {},
    Registered: w.createdAt ?? new Date((deps.now ?? Date.now)()).toISOString(),
    RegisteredAssociate: associate(w.createdBy),
    Updated: w.updatedAt ?? w.createdAt ?? new Date((deps.now ?? Date.now)()).toISOString(),
    UpdatedAssociate: associate(w.updatedBy),
  };
}

/** The entity as the model's input; unknown members are 400 in their own names. */
function toModel(body: Record<string, unknown>): Record<string, unknown> {
  const problems: { path: string; message: string }[] = [];
  const input: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    if (READ_ONLY.has(k)) continue;
    const field = TO_MODEL[k];
    if (!field) {
      problems.push({ path: k, message: `unknown key "${k}"` });
      continue;
    }
    if (v === null) continue;
    if ((k === 'Secret' || k === 'Name' || k === 'TargetUrl') && v === '') continue;
    if (k === 'Headers' && isObject(v)) {
      // A secret header comes back as "********": keep its stored value.
      input.headers = Object.fromEntries(
        Object.entries(v).map(([h, hv]) => [h, isMasked(hv) ? { secret: true } : hv]),
      );
      continue;
    }
    if (k === 'Secret' && isMasked(v)) {
      input.secret = { set: true };
      continue;
    }
    if (k === 'State' && typeof v === 'number') {
      const state = STATES[v];
      if (!state) problems.push({ path: k, message: '1 (Active), 2 (Stopped) or 3 (TooManyErrors)' });
      else input.state = state;
      continue;
    }
    input[field] = v;
  }
  if (problems.length) throw invalidBody(problems);
  return input;
}

export function superOfficeRoutes(deps: DialectDeps): Route[] {
  return [
    {
      method: 'POST',
      url: '/api/v1/Agents/Webhook/CreateDefaultWebhook',
      operationId: 'superOfficeCreateDefaultWebhook',
      summary: 'Seed 001: the defaults of a new webhook (nothing is stored)',
      tags: ['seed 001'],
      permission: 'WEBHOOKS:VIEW',
      responses: { 200: { description: 'the defaults' } },
      handler: async () => {
        const w = defaultWebhook(deps.registry);
        const view = superOfficeView({ ...w, name: '' }, 0, deps);
        return { status: 200, body: { ...view, RegisteredAssociate: null, UpdatedAssociate: null } };
      },
    },
    {
      method: 'POST',
      url: '/api/v1/Agents/Webhook/SaveWebhook',
      operationId: 'superOfficeSaveWebhook',
      summary: 'Seed 001: create (WebhookId 0) or update a webhook',
      tags: ['seed 001'],
      permissions: ['WEBHOOKS:ADD', 'WEBHOOKS:EDIT'],
      responses: { 200: { description: 'the saved webhook' }, ...errorResponses(400, 404) },
      handler: async (req) => {
        // The permission depends on WebhookId (0: create, else update); a wrong token is 401 before any 400.
        let peek: unknown;
        try {
          peek = jsonBody(req, false);
        } catch {}
        const updating = isObject(peek) && typeof peek.WebhookId === 'number' && peek.WebhookId !== 0;
        const principal = authorize(deps, req, updating ? 'WEBHOOKS:EDIT' : 'WEBHOOKS:ADD');
        const body = jsonBody(req, true);
        if (!isObject(body)) throw new ApiError(400, 'invalid_body', '$: expected a JSON object');
        const number = body.WebhookId ?? 0;
        if (typeof number !== 'number' || !Number.isInteger(number) || number < 0) {
          throw invalidBody([
            { path: 'WebhookId', message: 'expected 0 (new) or the id of a saved webhook' },
          ]);
        }
        if (number === 0) {
          const created = deps.service.create(toModel(body), principal.name, { rename: toPascalPath });
          return { status: 200, body: superOfficeView(created.webhook, created.stored.number, deps) };
        }
        const entry = deps.service.byNumber(number);
        if (!entry) throw notFound('webhook', String(number));
        const { webhook, stored } = deps.service.replace(entry.webhook.id, toModel(body), principal.name, {
          rename: toPascalPath,
        });
        // Saving with State Active is how the agent resumes a webhook stopped by errors.
        if (body.State !== undefined && body.State !== null && webhook.state !== deps.stateOf(webhook)) {
          deps.setState(webhook.id, webhook.state, `set through SaveWebhook by ${principal.name}`);
        }
        const current = deps.catalog().webhook(webhook.id) ?? webhook;
        return { status: 200, body: superOfficeView(current, stored.number, deps) };
      },
    },
  ];
}
