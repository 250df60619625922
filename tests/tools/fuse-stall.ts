// A FUSE file system whose daemon stops answering: for the hungtask e2e test.
//
//   bun tests/tools/fuse-stall.ts <mountpoint>
//
// Mounts an empty FUSE file system on <mountpoint> (raw /dev/fuse, mount(2) through bun:ffi; no
// libfuse), answers INIT, and then never answers a LOOKUP of a name starting with "stall": the
// looking-up task waits in request_wait_answer. Killed (SIGKILL) after the daemon has read the
// request, that task can no longer be interrupted and waits in uninterruptible sleep (D state)
// for an answer that never comes, which is what the kernel's hung task detector reports. INIT
// does not grant FUSE_PARALLEL_DIROPS, so the kernel serializes lookups in a directory: any
// further lookup in the root directory waits for the stalled one on the directory's FUSE inode
// lock (a mutex: D state at once, no kill needed). Every other request gets ENOENT or ENOSYS. Prints "ready" after INIT and
// "stalled <pid> <name>" for each request it keeps; exits when the connection ends (unmount or
// abort) or when killed, which aborts the connection and releases the waiting tasks.
// The caller unmounts (umount -l) afterwards.
import { dlopen, FFIType as T, ptr, read } from "bun:ffi";
import { openSync, readSync, writeSync } from "node:fs";

const mountpoint = process.argv[2];
if (!mountpoint) {
  writeSync(2, "usage: fuse-stall.ts <mountpoint>\n");
  process.exit(2);
}

const MS_NOSUID = 2, MS_NODEV = 4;
const FUSE_LOOKUP = 1, FUSE_FORGET = 2, FUSE_INIT = 26, FUSE_INTERRUPT = 36, FUSE_BATCH_FORGET = 42, FUSE_DESTROY = 38;
const ENOENT = 2, ENOSYS = 38;
const IN_HEADER = 40; // struct fuse_in_header
const OUT_HEADER = 16; // struct fuse_out_header
const INIT_OUT = 64; // struct fuse_init_out (7.36+ layout; shorter minor versions read a prefix)

const libc = dlopen("libc.so.6", {
  mount: { args: [T.ptr, T.ptr, T.ptr, T.u64, T.ptr], returns: T.i32 },
  __errno_location: { args: [], returns: T.ptr },
});
const cstr = (s: string) => Buffer.from(s + "\0");

const fd = openSync("/dev/fuse", "r+");
const src = cstr("kpulse-fuse-stall"), target = cstr(mountpoint), fstype = cstr("fuse");
const opts = cstr(`fd=${fd},rootmode=40000,user_id=0,group_id=0`);
if (libc.symbols.mount(ptr(src), ptr(target), ptr(fstype), MS_NOSUID | MS_NODEV, ptr(opts)) !== 0) {
  writeSync(2, `mount ${mountpoint} failed (errno ${read.i32(libc.symbols.__errno_location()!, 0)})\n`);
  process.exit(1);
}

function reply(unique: bigint, error: number, body?: Uint8Array): void {
  const out = new Uint8Array(OUT_HEADER + (body?.length ?? 0));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, out.length, true);
  dv.setInt32(4, -error, true);
  dv.setBigUint64(8, unique, true);
  if (body) out.set(body, OUT_HEADER);
  writeSync(fd, out);
}

const buf = new Uint8Array(1 << 20); // the kernel wants at least max_write + headers
const dv = new DataView(buf.buffer);
for (;;) {
  let n: number;
  try {
    n = readSync(fd, buf, 0, buf.length, null);
  } catch (err: any) {
    if (err?.code === "EINTR" || err?.code === "EAGAIN") continue;
    process.exit(0); // ENODEV: unmounted or aborted
  }
  if (n < IN_HEADER) continue;
  const opcode = dv.getUint32(4, true);
  const unique = dv.getBigUint64(8, true);
  const pid = dv.getUint32(32, true);
  switch (opcode) {
    case FUSE_INIT: {
      const body = new Uint8Array(INIT_OUT);
      const o = new DataView(body.buffer);
      o.setUint32(0, 7, true); // major
      o.setUint32(4, 31, true); // minor: an old, simple protocol the kernel still speaks
      o.setUint32(8, dv.getUint32(IN_HEADER + 8, true), true); // max_readahead as offered
      o.setUint32(12, 0, true); // flags: nothing optional
      o.setUint16(16, 1, true); // max_background
      o.setUint16(18, 1, true); // congestion_threshold
      o.setUint32(20, 4096, true); // max_write
      o.setUint32(24, 1, true); // time_gran
      reply(unique, 0, body);
      writeSync(1, "ready\n");
      break;
    }
    case FUSE_LOOKUP: {
      const end = buf.indexOf(0, IN_HEADER);
      const name = new TextDecoder().decode(buf.subarray(IN_HEADER, end < 0 ? n : end));
      if (name.startsWith("stall")) writeSync(1, `stalled ${pid} ${name}\n`); // never answered
      else reply(unique, ENOENT);
      break;
    }
    case FUSE_FORGET:
    case FUSE_BATCH_FORGET:
    case FUSE_INTERRUPT: // the stalled request stays unanswered
      break;
    case FUSE_DESTROY:
      reply(unique, 0);
      process.exit(0);
    default:
      reply(unique, ENOSYS);
  }
}
