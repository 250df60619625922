// HUATUO's save throttle for hungtask (and softlockup): after a saved event the next one is
// saved no sooner than 10 minutes later, the wait doubling with each save up to 3 hours; a quiet
// period of the last wait plus 1 hour starts over at 10 minutes. Events in between are counted,
// not saved. (cloudflare/backoff without jitter, decay 1 h, as huatuo-bamai configures it.)

export interface BackoffOptions {
  intervalMs?: number;
  maxMs?: number;
  decayMs?: number;
  now?: () => number;
}

export class SaveBackoff {
  private readonly intervalMs: number;
  private readonly maxMs: number;
  private readonly decayMs: number;
  private readonly now: () => number;
  private n = 0;
  private lastTry: number | undefined;
  private nextAllowed = -Infinity;

  constructor(opts: BackoffOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 10 * 60_000;
    this.maxMs = opts.maxMs ?? 3 * 3600_000;
    this.decayMs = opts.decayMs ?? 3600_000;
    this.now = opts.now ?? Date.now;
  }

  /** Whether an event seen now may be saved; a yes starts the next wait. */
  allow(): boolean {
    const t = this.now();
    if (t < this.nextAllowed) return false;
    this.nextAllowed = t + this.next(t);
    return true;
  }

  private wait(n: number): number {
    return n >= 63 ? this.maxMs : Math.min(this.intervalMs * 2 ** n, this.maxMs);
  }

  private next(t: number): number {
    if (this.lastTry === undefined) this.lastTry = t;
    else {
      const decayed = t - this.lastTry > this.wait(this.n - 1) + this.decayMs;
      this.lastTry = t;
      if (decayed) this.n = 0;
    }
    return this.wait(this.n++);
  }
}
