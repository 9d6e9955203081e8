/** `nats.url` as servers to connect to: one URL, or a cluster's members joined with commas. */
export const natsServers = (url: string): string[] =>
  url
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
