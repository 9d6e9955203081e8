/**
 * Where a local probe reaches hookd's `/healthz` (the image's HEALTHCHECK):
 * the configured host and port, with a wildcard address replaced by the
 * loopback address of its family.
 */
export function healthUrl(http: { host: string; port: number }): string {
  const host = http.host.replace(/^\[(.*)\]$/, '$1');
  const probe = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${probe.includes(':') ? `[${probe}]` : probe}:${http.port}/healthz`;
}
