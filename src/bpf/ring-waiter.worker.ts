// The ring scheduler's waiter thread (see waiter-thread.ts). It blocks in epoll_wait on one
// epoll set holding every ring-buffer map fd plus an eventfd, with no timeout: the kernel wakes
// it when a ring has data (adaptive wakeup: the first record after the consumer caught up). It
// then tells the main thread and parks on a SharedArrayBuffer until the main thread has drained
// and re-armed it, so a level-triggered fd that stays readable cannot make it spin. Under load it
// waits until `minIntervalMs` after its previous wake-up before waiting again, which bounds the
// wake-up rate. The eventfd exists only to get it out of epoll_wait to exit.
//
// It must be an extra entrypoint of `bun build --compile` (see the Makefile).
import { workerData } from "node:worker_threads";
import { EINTR, EPOLL_EVENT_SIZE, epollWait } from "../../ffi/libc.ts";
import { dropToThisThread } from "../privileges/capabilities.ts";
import type { RingWaiterInit, RingWaiterMessage } from "./waiter-thread.ts";

// epoll_wait on fds it was handed needs no privilege: this thread gives up every capability it
// was started with (capabilities are per thread; the main thread drops its own after start-up).
dropToThisThread(0n);

const init = workerData as RingWaiterInit;
const ctl = new Int32Array(init.ctl);
const { ARM, STOP } = init.index;
const events = new Uint8Array(EPOLL_EVENT_SIZE * 16);
const post = (m: RingWaiterMessage) => postMessage(m);

function run(): void {
  let lastWake = -Infinity;
  for (;;) {
    if (Atomics.load(ctl, STOP)) return;
    // Coalesce under load: no sooner than minIntervalMs after the previous wake-up. Idle, the
    // previous wake-up is long past and this does not wait at all.
    const rest = init.minIntervalMs - (performance.now() - lastWake);
    if (rest >= 0.05) {
      Atomics.wait(ctl, STOP, 0, rest); // close() notifies STOP
      if (Atomics.load(ctl, STOP)) return;
    }
    const n = epollWait(init.epfd, events, -1);
    if (n < 0) {
      if (-n === EINTR) continue;
      post({ type: "error", errno: -n });
      return;
    }
    if (Atomics.load(ctl, STOP)) return;
    lastWake = performance.now();
    Atomics.store(ctl, ARM, 0);
    post({ type: "wake", ready: n });
    // Parked until the main thread re-arms (after its drain) or close() stops us.
    while (Atomics.load(ctl, ARM) === 0 && !Atomics.load(ctl, STOP)) Atomics.wait(ctl, ARM, 0);
  }
}

try {
  run();
} catch (err) {
  post({ type: "error", errno: 0, message: String(err) });
}
post({ type: "exit" });
