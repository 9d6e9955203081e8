/**
 * The HTTP API (side lane): server, auth, ingest, the management routes and
 * their dialects. Only `app.ts` wires it.
 * This file is the folder's surface: other folders import only from here.
 */
export { Authenticator } from './auth.ts';
export { registerIngest } from './ingest.ts';
export { registerManagementApi } from './management.ts';
export { API_BODY_LIMIT, createServer } from './server.ts';
export { WebhookService } from './webhook-service.ts';
