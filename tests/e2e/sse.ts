// A small SSE client for tests: POSTs to the watch API and yields parsed frames.
export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

export interface Watch {
  status: number;
  frames: SseFrame[];
  /** Resolves with the first data frame whose parsed JSON satisfies `pred`. */
  waitFor(pred: (ce: any) => boolean, timeoutMs?: number): Promise<any>;
  close(): void;
}

export async function watch(url: string, body: unknown = {}, headers: Record<string, string> = {}): Promise<Watch> {
  const ctrl = new AbortController();
  const res = await fetch(`${url}/v1/events/watch`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
    signal: ctrl.signal,
  });
  const frames: SseFrame[] = [];
  const waiters: (() => void)[] = [];
  if (res.ok && res.body) {
    void (async () => {
      const dec = new TextDecoder();
      let buf = "";
      try {
        for await (const chunk of res.body!) {
          buf += dec.decode(chunk, { stream: true });
          let cut: number;
          while ((cut = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const f: SseFrame = {};
            for (const line of block.split("\n")) {
              if (line.startsWith(":")) f.comment = line.slice(1).trim();
              else if (line.startsWith("id:")) f.id = line.slice(3).trim();
              else if (line.startsWith("event:")) f.event = line.slice(6).trim();
              else if (line.startsWith("data:")) f.data = (f.data ? f.data + "\n" : "") + line.slice(5).trimStart();
            }
            frames.push(f);
            for (const w of waiters.splice(0)) w();
          }
        }
      } catch {
        /* aborted */
      }
    })();
  }
  return {
    status: res.status,
    frames,
    async waitFor(pred, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      let seen = 0;
      for (;;) {
        for (; seen < frames.length; seen++) {
          const d = frames[seen]!.data;
          if (!d) continue;
          const ce = JSON.parse(d);
          if (pred(ce)) return ce;
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching event within ${timeoutMs} ms (${frames.length} frames seen)`);
        await Promise.race([new Promise<void>((r) => waiters.push(r)), Bun.sleep(Math.min(left, 200))]);
      }
    },
    close: () => ctrl.abort(),
  };
}
