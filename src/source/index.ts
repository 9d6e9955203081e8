/**
 * Source (stage 1): the decoded event, NATS JetStream intake, event decoding, JSON pointers into events.
 * This file is the folder's surface: other folders import only from here.
 */

export { parseBoundedJson } from './bounded-json.ts';
export { ConsumerLease } from './consumer-lease.ts';
export { decodeEvent } from './decode.ts';
export type { HookEvent, Rejection } from './event.ts';
export { httpItems } from './http-modes.ts';
export {
  ensureConsumer,
  ensureStream,
  isCode,
  JetStreamSetupError,
  notReadyYet,
  type PatienceOptions,
  patiently,
  replicasText,
  STREAM_NAME_IN_USE,
} from './jetstream-setup.ts';
export { NatsSource } from './nats.ts';
export { natsServers } from './nats-servers.ts';
export { compilePointer, type Pointer } from './pointer.ts';
