// A task that must never overlap itself (a rescan, a re-read): asked for while it runs, it runs
// once more afterwards, however many times it was asked meanwhile, so the last request always
// sees a run that started after it.

export class CoalescingRunner {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly task: () => Promise<void>) {}

  /** Resolves once a run that started after this call has finished (rejects with its error). */
  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.task();
        } while (this.again && !this.stopped);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** No more reruns; resolves when the run in progress (if any) ends. */
  stop(): Promise<void> {
    this.stopped = true;
    return this.running?.catch(() => undefined) ?? Promise.resolve();
  }
}
