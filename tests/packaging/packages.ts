// Shared by the packaging tests: the RPMs built once per run (make skips them when nothing
// changed) and a scratch root to install them into, with their scriptlets running for real.
import { spawnSync } from "bun";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../e2e/agent.ts";

export { ROOT };
export const VERSION: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
export const ARCH = run(["uname", "-m"]).stdout.trim();
export const RPM = join(ROOT, `build/rpm/RPMS/${ARCH}/kpulse-${VERSION}-1.${ARCH}.rpm`);
export const RPM_OC = join(ROOT, `build/rpm/RPMS/${ARCH}/kpulse-${VERSION}-1.oc9.${ARCH}.rpm`);
export const SPEC = join(ROOT, "packaging/rpm/kpulse.spec");
export const RPMLINTRC = join(ROOT, "packaging/rpm/rpmlintrc");
export const UNIT = join(ROOT, "packaging/systemd/kpulse.service");

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded: a hung tool fails the test instead of the run). */
export function run(cmd: string[], opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Result {
  const p = spawnSync(cmd, { cwd: opts.cwd ?? ROOT, stdout: "pipe", stderr: "pipe", timeout: opts.timeoutMs ?? 120_000, env: opts.env ?? process.env });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

export function mustRun(cmd: string[], opts: Parameters<typeof run>[1] = {}): Result {
  const r = run(cmd, opts);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

let built: { generic: Result; opencloudos: Result } | undefined;

/** `make rpm` and `make rpm-opencloudos`, once per test run. */
export function buildRpms(): { generic: Result; opencloudos: Result } {
  built ??= {
    generic: run(["make", "rpm"], { timeoutMs: 600_000 }),
    opencloudos: run(["make", "rpm-opencloudos"], { timeoutMs: 600_000 }),
  };
  return built;
}

/** `rpm -qp --qf FORMAT` of a package file. */
export function query(rpm: string, format: string): string {
  return mustRun(["rpm", "-qp", "--qf", format, rpm]).stdout;
}

export const fileSize = (path: string) => statSync(path).size;

/**
 * A root file system to install packages into: this machine's own root under an overlay whose
 * upper layer is a temporary directory, in a private mount namespace held by a sleeping
 * process. rpm --root runs the scriptlets chrooted there, with the real sh, systemd-sysusers
 * and systemctl (offline, as in an image build); nothing reaches the real root. Closing kills
 * the holder, which takes the mounts with it.
 */
export class ScratchRoot {
  readonly dir: string;
  readonly path: string;
  private readonly holder: ReturnType<typeof Bun.spawn>;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "kpulse-rpmroot-"));
    this.path = join(this.dir, "merged");
    mustRun(["mkdir", "-p", join(this.dir, "upper"), join(this.dir, "work"), this.path]);
    this.holder = Bun.spawn(["unshare", "--mount", "--propagation", "private", "sleep", "600"], { stdout: "ignore", stderr: "ignore" });
    // unshare must have made its namespace before we enter it
    for (let i = 0; i < 100 && readLink(`/proc/${this.holder.pid}/ns/mnt`) === readLink("/proc/self/ns/mnt"); i++) Bun.sleepSync(20);
    this.exec(["mount", "-t", "overlay", "overlay", "-o", `lowerdir=/,upperdir=${this.dir}/upper,workdir=${this.dir}/work`, this.path], true);
    // lowerdir=/ holds the root file system only: give the chroot its /dev and /proc
    this.exec(["mount", "--rbind", "/dev", join(this.path, "dev")], true);
    this.exec(["mount", "-t", "proc", "proc", join(this.path, "proc")], true);
  }

  /** Runs a command in the namespace (paths outside the root as usual). */
  exec(cmd: string[], must = false): Result {
    const full = ["nsenter", "-t", String(this.holder.pid), "-m", "--", ...cmd];
    return must ? mustRun(full) : run(full);
  }

  /** rpm operating on the scratch root, its database in the usual /var/lib/rpm. */
  rpm(args: string[]): Result {
    return this.exec(["rpm", "--root", this.path, "--define", "_dbpath /var/lib/rpm", ...args]);
  }

  /** A path inside the root, as seen from within the namespace. */
  at(p: string): string {
    return join(this.path, p);
  }

  close(): void {
    this.holder.kill("SIGKILL");
    spawnSync(["sleep", "0.1"]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function readLink(p: string): string {
  return run(["readlink", p]).stdout.trim();
}
