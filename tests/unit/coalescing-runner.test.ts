// CoalescingRunner: never two runs at once; requests during a run coalesce into one more run.
import { expect, test } from "bun:test";
import { CoalescingRunner } from "../../src/util/coalescing-runner.ts";

test("requests during a run coalesce into exactly one rerun, and every caller waits for a run that started after it", async () => {
  let runs = 0;
  let active = 0;
  let maxActive = 0;
  const r = new CoalescingRunner(async () => {
    active++;
    maxActive = Math.max(maxActive, active);
    runs++;
    await Bun.sleep(10);
    active--;
  });
  const first = r.run();
  const during = [r.run(), r.run(), r.run()];
  await Promise.all([first, ...during]);
  expect(runs).toBe(2);
  expect(maxActive).toBe(1);
  await r.run();
  expect(runs).toBe(3);
});

test("stop(): no rerun after the current run; an error rejects run() but not stop()", async () => {
  let runs = 0;
  const r = new CoalescingRunner(async () => {
    runs++;
    await Bun.sleep(5);
    throw new Error("boom");
  });
  const p = r.run();
  void r.run().catch(() => undefined);
  await r.stop();
  expect(p).rejects.toThrow("boom");
  expect(runs).toBe(1);
});
