// Which libbpf the agent uses, chosen once at start-up before any BPF work. The executable embeds
// build/libbpf-bundle.so: libbpf, libelf and zlib linked into one shared object that needs only
// glibc (native/libbpf-bundle/build.sh). It is written to a memfd and dlopened from
// /proc/self/fd/N, so a host needs no libbpf, libelf or zlib. The host's libbpf.so.1 is used only
// when the embedded copy cannot be loaded (e.g. a policy that forbids executable memfd mappings),
// and the reason is kept for the log and `kpulse version`.
import bundlePath from "../../build/libbpf-bundle.so" with { type: "file" };
import { readFileSync } from "node:fs";
import { libbpf, libbpfBundleContents, libbpfPath, libbpfVersion, setLibbpfPath } from "../../ffi/libbpf.ts";
import { closeFd, EINVAL, ErrnoError, memfdFromBytes, MFD_CLOEXEC, MFD_NOEXEC_SEAL } from "../../ffi/libc.ts";

export const SYSTEM_LIBBPF = "libbpf.so.1";
/** The memfd's name: /proc/<pid>/maps shows the mapping as "/memfd:<name> (deleted)". */
export const MEMFD_NAME = "kpulse-libbpf-bundle.so";

export interface LibbpfOrigin {
  source: "embedded" | "system" | "unavailable";
  /** major.minor as the loaded libbpf reports it ("" when unavailable). */
  version: string;
  /** What dlopen was given: /proc/self/fd/N for the embedded copy, else "libbpf.so.1". */
  path: string;
  /** The embedded bundle's build contents (Debian package versions); embedded only. */
  contents?: string;
  /** Why the embedded copy is not in use (source "system" or "unavailable"). */
  embeddedError?: string;
  /** Why the host's libbpf could not be loaded either (source "unavailable"). */
  systemError?: string;
}

let chosen: LibbpfOrigin | undefined;
/** The memfd stays open for the life of the process: /proc/self/fd/N must keep naming the bundle for later dlopens of the same path. */
let memfd: number | undefined;

/**
 * Loads libbpf (embedded first, then the host's) and returns where it came from. Idempotent;
 * never throws: with no libbpf at all, BPF probes fail one by one with the loader's error.
 */
export function loadLibbpf(embedded: string = bundlePath): LibbpfOrigin {
  if (chosen) return chosen;
  let embeddedError: string;
  try {
    chosen = openEmbedded(embedded);
    return chosen;
  } catch (err) {
    embeddedError = (err as Error).message;
  }
  try {
    // Already SYSTEM_LIBBPF when something opened libbpf before this choice (embeddedError says so).
    if (libbpfPath() !== SYSTEM_LIBBPF) setLibbpfPath(SYSTEM_LIBBPF);
    chosen = { source: "system", version: libbpfVersion(), path: SYSTEM_LIBBPF, embeddedError };
  } catch (err) {
    chosen = { source: "unavailable", version: "", path: SYSTEM_LIBBPF, embeddedError, systemError: (err as Error).message };
  }
  return chosen;
}

function openEmbedded(file: string): LibbpfOrigin {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read the embedded ${file}: ${(err as Error).message}`);
  }
  const fd = bundleMemfd(bytes);
  const path = `/proc/self/fd/${fd}`;
  try {
    setLibbpfPath(path);
    libbpf(); // dlopen: throws "cannot load /proc/self/fd/N: …"
  } catch (err) {
    closeFd(fd);
    throw err;
  }
  memfd = fd;
  return { source: "embedded", version: libbpfVersion(), path: libbpfPath(), contents: libbpfBundleContents(path) };
}

/**
 * dlopen maps the memfd, it never executes it, so the memfd is sealed non-executable where the
 * kernel can (6.3+): hosts with vm.memfd_noexec=2 refuse executable memfds (6.3–6.5 refuse any
 * memfd without the seal). Older kernels reject the unknown flag with EINVAL: then a plain one.
 */
function bundleMemfd(bytes: Uint8Array): number {
  try {
    return memfdFromBytes(MEMFD_NAME, bytes, MFD_CLOEXEC | MFD_NOEXEC_SEAL);
  } catch (err) {
    if (err instanceof ErrnoError && err.errno === EINVAL) return memfdFromBytes(MEMFD_NAME, bytes, MFD_CLOEXEC);
    throw err;
  }
}

/** One line for `kpulse version`: "libbpf 1.1 (embedded: …)" or why there is none. */
export function describeLibbpf(o: LibbpfOrigin): string {
  if (o.source === "embedded") return `libbpf ${o.version} (embedded, built from ${o.contents})`;
  if (o.source === "system") return `libbpf ${o.version} (system ${SYSTEM_LIBBPF}; embedded copy failed: ${o.embeddedError})`;
  return `libbpf unavailable (embedded: ${o.embeddedError}; system: ${o.systemError})`;
}

/** The memfd holding the embedded bundle, if it is in use (for tests and diagnostics). */
export function libbpfMemfd(): number | undefined {
  return memfd;
}
