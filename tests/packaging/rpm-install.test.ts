// The RPM installed, upgraded and removed with its scriptlets, in a scratch root that is this
// machine's root file system under an overlay (see ScratchRoot): the kpulse user appears, the
// files get their owners, the unit is enabled by preset, an edited config survives an upgrade
// (the new one lands beside it as .rpmnew), and removal disables the unit.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernelTestSkipReason } from "../e2e/agent.ts";
import { ARCH, RPM, ROOT, SPEC, ScratchRoot, VERSION, buildRpms, mustRun } from "./packages.ts";

const WANTS = "etc/systemd/system/multi-user.target.wants/kpulse.service";
const EDIT = "\n# edited by the administrator\n";

// root: mount namespaces, overlay mounts, rpm's chroot
describe.skipIf(!!kernelTestSkipReason())("rpm install, upgrade and removal with scriptlets", () => {
  let root: ScratchRoot;
  let upgradeDir: string;
  let upgradeRpm: string;

  beforeAll(() => {
    const { generic } = buildRpms();
    if (generic.code !== 0) throw new Error(`make rpm failed:\n${generic.stderr}`);
    // The next version of the package, with a changed default config.
    upgradeDir = mkdtempSync(join(tmpdir(), "kpulse-rpmup-"));
    cpSync(join(ROOT, "build/rpm/SOURCES"), join(upgradeDir, "SOURCES"), { recursive: true });
    appendFileSync(join(upgradeDir, "SOURCES/kpulse.toml"), "\n# a new default in the next version\n");
    mustRun(["rpmbuild", "-bb", "--quiet", "--define", `_topdir ${upgradeDir}`, "--define", `kpulse_version ${VERSION}.1`, SPEC], { timeoutMs: 300_000 });
    upgradeRpm = join(upgradeDir, `RPMS/${ARCH}/kpulse-${VERSION}.1-1.${ARCH}.rpm`);
    root = new ScratchRoot();
  }, 600_000);
  afterAll(() => {
    root?.close();
    if (upgradeDir) rmSync(upgradeDir, { recursive: true, force: true });
  });

  const cat = (p: string) => root.exec(["cat", root.at(p)]);
  const exists = (p: string) => root.exec(["test", "-e", root.at(p)]).code === 0 || root.exec(["test", "-L", root.at(p)]).code === 0;
  /** "mode uid gid" of a path in the root. */
  const stat = (p: string) => root.exec(["stat", "-c", "%a %u %g", root.at(p)], true).stdout.trim();
  const passwd = (name: string) => cat("etc/passwd").stdout.split("\n").find((l) => l.startsWith(`${name}:`))?.split(":");

  test("rpm -i runs the scriptlets and creates the kpulse system user", () => {
    // --nodeps: the root's rpm database is empty (its packages are Debian's), so /bin/sh,
    // systemd and glibc, which the root has, are unknown to rpm.
    const r = root.rpm(["-i", "--nodeps", RPM]);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/scriptlet failed|does not exist - using root/);
    const user = passwd("kpulse");
    expect(user).toBeDefined();
    const [, , uid, gid, , home, shell] = user!;
    expect(Number(uid)).toBeLessThan(1000); // a system user
    expect(home).toBe("/var/lib/kpulse");
    expect(shell).toMatch(/nologin$/);
    expect(cat("etc/group").stdout).toContain(`kpulse:x:${gid}:`);
  });

  test("files and directories belong to root or kpulse as the spec says", () => {
    const [, , uid, gid] = passwd("kpulse")!;
    expect(stat("usr/bin/kpulse")).toBe("755 0 0");
    expect(stat("etc/kpulse")).toBe(`750 0 ${gid}`);
    expect(stat("etc/kpulse/kpulse.toml")).toBe(`640 0 ${gid}`);
    expect(stat("var/lib/kpulse")).toBe(`750 ${uid} ${gid}`);
    expect(stat("var/log/kpulse")).toBe(`750 ${uid} ${gid}`);
    expect(stat("usr/lib/systemd/system/kpulse.service")).toBe("644 0 0");
  });

  test("rpm -V finds the installed files as packaged", () => {
    const r = root.rpm(["-V", "--nodeps", "kpulse"]);
    expect({ code: r.code, out: r.stdout }).toEqual({ code: 0, out: "" });
  });

  test("%post enabled the unit through the presets (this root's presets enable by default)", () => {
    const preset = root.exec(["systemctl", `--root=${root.path}`, "is-enabled", "kpulse.service"]);
    expect(preset.stdout.trim()).toBe("enabled");
    expect(exists(WANTS)).toBe(true);
  });

  test("the installed binary runs in the root", () => {
    const r = root.exec(["chroot", root.path, "/usr/bin/kpulse", "version"], true);
    expect(r.stdout).toStartWith(`kpulse ${VERSION} `);
  });

  test("upgrade: the administrator's config is kept and the new default lands as .rpmnew", () => {
    // the edit is made inside the namespace, where the root is mounted
    root.exec(["sh", "-c", `printf '${EDIT.replaceAll("\n", "\\n")}' >> '${root.at("etc/kpulse/kpulse.toml")}'`], true);
    const before = cat("etc/kpulse/kpulse.toml").stdout;
    const r = root.rpm(["-U", "--nodeps", upgradeRpm]);
    expect(r.code).toBe(0);
    expect(root.rpm(["-q", "kpulse"]).stdout.trim()).toBe(`kpulse-${VERSION}.1-1.${ARCH}`);
    expect(cat("etc/kpulse/kpulse.toml").stdout).toBe(before);
    expect(cat("etc/kpulse/kpulse.toml.rpmnew").stdout).toContain("# a new default in the next version");
    expect(stat("etc/kpulse/kpulse.toml")).toBe(`640 0 ${passwd("kpulse")![3]}`);
    // an upgrade is not a removal: the unit stays enabled
    expect(exists(WANTS)).toBe(true);
  });

  test("rpm -e disables the unit, removes the files and keeps the edited config as .rpmsave", () => {
    const r = root.rpm(["-e", "kpulse"]);
    expect(r.code).toBe(0);
    expect(exists(WANTS)).toBe(false);
    expect(exists("usr/bin/kpulse")).toBe(false);
    expect(exists("usr/lib/systemd/system/kpulse.service")).toBe(false);
    expect(cat("etc/kpulse/kpulse.toml.rpmsave").stdout).toContain("# edited by the administrator");
    // the user stays (files it owned may remain), as packaging guidelines ask
    expect(passwd("kpulse")).toBeDefined();
  });
});
