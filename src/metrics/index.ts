/**
 * Metrics (base lane): the named instruments. It imports no stage; the stages report to it.
 * This file is the folder's surface: other folders import only from here.
 */
export { Metrics } from './metrics.ts';
export {
  type MetricsFormat,
  negotiateFormat,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
} from './openmetrics.ts';
export { setWebhookStateGauge } from './webhook-state-gauge.ts';
