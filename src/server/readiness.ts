// What /readyz answers: every part of the agent that can stop it from doing its job (probes
// still loading, an output that cannot write) registers a named check; /readyz is 204 when no
// check reports a problem, else 503 `{"error":{"code":"not_ready","message":"<name>: <reason>; …"}}`.
// /healthz stays liveness only: a full disk makes the agent unready, never "dead".
//
// For an output (the local files, OpenSearch, …):
//
//   const off = readiness.add("opensearch", () => (backendUp ? undefined : `unreachable: ${lastError}`));
//   …
//   off(); // when the output stops for good
//
// A check is called on every /readyz request: keep it a cheap read of state the output already
// keeps (no I/O), and return a short reason naming the error ("ENOSPC: no space left on device").

/** undefined when ready, else why not. */
export type ReadinessCheck = () => string | undefined;

export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();

  /** Register (or replace) the check called `name`; returns a function that removes it. */
  add(name: string, check: ReadinessCheck): () => void {
    this.checks.set(name, check);
    return () => {
      if (this.checks.get(name) === check) this.checks.delete(name);
    };
  }

  /** "name: reason" for every failing check, in registration order; empty when ready. A throwing check fails. */
  failing(): string[] {
    const out: string[] = [];
    for (const [name, check] of this.checks) {
      let reason: string | undefined;
      try {
        reason = check();
      } catch (e) {
        reason = `check failed: ${(e as Error).message}`;
      }
      if (reason !== undefined) out.push(`${name}: ${reason}`);
    }
    return out;
  }
}
