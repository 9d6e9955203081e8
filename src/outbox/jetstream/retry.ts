/**
 * Retries a JetStream write until a deadline. A leader election (a cluster
 * member lost, a server restarted) makes writes fail for a few seconds with
 * "no responders" or a timeout; every write retried here is safe to repeat:
 * publishes carry their `Nats-Msg-Id`, KV puts write whole records.
 */
export async function retryUntil<T>(deadlineMs: number, write: () => Promise<T>): Promise<T> {
  const giveUpAt = Date.now() + deadlineMs;
  for (let pause = 100; ; pause = Math.min(pause * 2, 2000)) {
    try {
      return await write();
    } catch (err) {
      if (Date.now() + pause >= giveUpAt) throw err;
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}
