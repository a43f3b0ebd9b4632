/**
 * A token bucket per client address: a sandbox that floods the name service has its queries
 * dropped beyond the rate, so the service keeps answering the others. Clients not heard from for
 * a while are forgotten, and the table never holds more than maxClients.
 */
export class ClientLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly perSecond: number,
    readonly burst: number,
    readonly maxClients = 4096,
  ) {}

  /** Whether a query from client at nowMs may be served (and takes a token if so). */
  take(client: string, nowMs: number): boolean {
    let b = this.buckets.get(client);
    if (b) {
      b.tokens = Math.min(this.burst, b.tokens + ((nowMs - b.at) * this.perSecond) / 1000);
      b.at = nowMs;
      // Most recently heard last, so the first entries are the ones to forget.
      this.buckets.delete(client);
    } else {
      b = { tokens: this.burst, at: nowMs };
      if (this.buckets.size >= this.maxClients) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(client, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  get clients(): number {
    return this.buckets.size;
  }
}
