// The RPM as built by `make rpm` (and its OpenCloudOS variant): its contents, modes, owners and
// config flags, an executable that survives packaging, and rpmlint with the project's filters.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernelTestSkipReason } from "../e2e/agent.ts";
import { ARCH, RPM, RPM_OC, RPMLINTRC, ROOT, SPEC, UNIT, VERSION, buildRpms, fileSize, mustRun, query, run } from "./packages.ts";

const sha256 = (path: string) => new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");

describe("make rpm", () => {
  beforeAll(() => {
    const { generic, opencloudos } = buildRpms();
    if (generic.code !== 0) throw new Error(`make rpm failed:\n${generic.stdout}\n${generic.stderr}`);
    if (opencloudos.code !== 0) throw new Error(`make rpm-opencloudos failed:\n${opencloudos.stdout}\n${opencloudos.stderr}`);
    console.log(`rpm sizes: ${RPM.split("/").pop()} ${(fileSize(RPM) / 2 ** 20).toFixed(1)} MiB, ${RPM_OC.split("/").pop()} ${(fileSize(RPM_OC) / 2 ** 20).toFixed(1)} MiB`);
  }, 600_000);

  test("builds kpulse-<version>-1.<arch> from package.json's version", () => {
    expect(query(RPM, "%{NAME} %{VERSION} %{RELEASE} %{ARCH}")).toBe(`kpulse ${VERSION} 1 ${ARCH}`);
  });

  test("holds exactly the agent, its config, the unit, the user, its directories and docs", () => {
    const files = query(RPM, "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]").trim().split("\n").sort();
    // perms owner group flags (c = config, n = noreplace, d = doc, l = license) path
    expect(files).toEqual([
      "-rw-r--r-- root root  /usr/lib/systemd/system/kpulse.service",
      "-rw-r--r-- root root  /usr/lib/sysusers.d/kpulse.conf",
      "-rw-r--r-- root root cn /etc/sysconfig/kpulse",
      "-rw-r--r-- root root d /usr/share/doc/kpulse/README.md",
      "-rw-r--r-- root root l /usr/share/licenses/kpulse/LICENSE",
      "-rw-r----- root kpulse cn /etc/kpulse/kpulse.toml",
      "-rwxr-xr-x root root  /usr/bin/kpulse",
      "drwxr-x--- kpulse kpulse  /var/lib/kpulse",
      "drwxr-x--- kpulse kpulse  /var/log/kpulse",
      "drwxr-x--- root kpulse  /etc/kpulse",
      "drwxr-xr-x root root  /usr/share/doc/kpulse",
      "drwxr-xr-x root root  /usr/share/licenses/kpulse",
    ].sort());
  });

  test("requires only glibc, /bin/sh and systemd (libbpf is inside the executable)", () => {
    const requires = query(RPM, "[%{REQUIRENAME}\n]").trim().split("\n");
    const other = requires.filter((r) => !/^(libc|libm|libdl|libpthread|ld-linux[-\w]*)\.so\.\d/.test(r) && !r.startsWith("rpmlib("));
    expect([...new Set(other)].sort()).toEqual(["/bin/sh", "config(kpulse)", "systemd"]);
  });

  test("no logrotate file: kpulse rotates its own event files", () => {
    expect(query(RPM, "[%{FILENAMES}\n]")).not.toContain("logrotate");
  });

  test("the unit and the sysusers.d line in %pre are the repository's files", () => {
    const dir = mkdtempSync(join(tmpdir(), "kpulse-rpm2cpio-"));
    try {
      mustRun(["sh", "-c", `rpm2cpio '${RPM}' | cpio -idm --quiet`], { cwd: dir });
      expect(readFileSync(join(dir, "usr/lib/systemd/system/kpulse.service"), "utf8")).toBe(readFileSync(UNIT, "utf8"));
      expect(readFileSync(join(dir, "etc/kpulse/kpulse.toml"), "utf8")).toBe(readFileSync(join(ROOT, "conf/kpulse.toml"), "utf8"));
      const sysusers = readFileSync(join(dir, "usr/lib/sysusers.d/kpulse.conf"), "utf8");
      expect(sysusers).toMatch(/^u kpulse - "[^"]+" \/var\/lib\/kpulse$/m);
      const pre = mustRun(["rpm", "-qp", "--qf", "%{PREIN}", RPM]).stdout;
      expect(pre).toContain(`systemd-sysusers --replace=/usr/lib/sysusers.d/kpulse.conf -`);
      expect(pre).toContain(sysusers.trim());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("has the systemd scriptlets: preset on install, disable on removal, restart on upgrade", () => {
    const scripts = mustRun(["rpm", "-qp", "--scripts", RPM]).stdout;
    expect(scripts).toMatch(/postinstall scriptlet[\s\S]*\$1 -eq 1[\s\S]*systemctl --no-reload preset kpulse\.service/);
    expect(scripts).toMatch(/preuninstall scriptlet[\s\S]*\$1 -eq 0[\s\S]*systemctl --no-reload disable --now kpulse\.service/);
    expect(scripts).toMatch(/postuninstall scriptlet[\s\S]*\$1 -ge 1[\s\S]*systemctl try-restart kpulse\.service/);
  });

  // root: rpm --root chroots
  describe.skipIf(!!kernelTestSkipReason())("installed with rpm --root into an empty directory (--nodeps --noscripts)", () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "kpulse-rpmempty-"));
      // Without scriptlets: an empty root has no /bin/sh to run them (rpm-install.test.ts runs
      // them in a full root). The kpulse user is then unknown and rpm falls back to root.
      const r = run(["rpm", "--root", dir, "--define", "_dbpath /var/lib/rpm", "-i", "--nodeps", "--noscripts", RPM]);
      if (r.code !== 0) throw new Error(`rpm -i exited ${r.code}: ${r.stderr}`);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    test("the executable is build/kpulse byte for byte (not stripped)", () => {
      expect(fileSize(join(dir, "usr/bin/kpulse"))).toBe(fileSize(join(ROOT, "build/kpulse")));
      expect(sha256(join(dir, "usr/bin/kpulse"))).toBe(sha256(join(ROOT, "build/kpulse")));
    });

    test("the installed binary runs: version and --help", () => {
      const v = mustRun([join(dir, "usr/bin/kpulse"), "version"]);
      expect(v.stdout).toMatch(new RegExp(`^kpulse ${VERSION.replaceAll(".", "\\.")} \\(commit \\w+, built \\S+, bun [\\d.]+\\)`));
      expect(v.stdout).toMatch(/^libbpf [\d.]+ \(embedded\b/m); // the embedded copy survived packaging
      const h = mustRun([join(dir, "usr/bin/kpulse"), "--help"]);
      expect(h.stdout).toContain("kpulse [run] --region <name> [flags]");
    });

    test("the installed config is accepted by the installed binary", () => {
      const r = run([join(dir, "usr/bin/kpulse"), "check", "--config", join(dir, "etc/kpulse/kpulse.toml")]);
      expect({ code: r.code, out: r.stdout.trim() }).toEqual({ code: 0, out: expect.stringContaining("OK") });
    });

    test("what rpm's strip step would do: the same file stripped is no longer kpulse", () => {
      // The reason the spec turns __os_install_post off; if this ever passes, stripping is safe.
      const copy = join(dir, "stripped");
      copyFileSync(join(dir, "usr/bin/kpulse"), copy);
      mustRun(["strip", copy]);
      const r = run([copy, "version"], { timeoutMs: 20_000 });
      expect(r.stdout).not.toContain(`kpulse ${VERSION}`);
    });
  });

  test("rpmlint is clean on the spec and both packages with packaging/rpm/rpmlintrc", () => {
    const r = run(["rpmlint", "-r", RPMLINTRC, SPEC, RPM, RPM_OC]);
    const summary = r.stdout.trim().split("\n").pop() ?? "";
    console.log(`rpmlint: ${summary.trim()}`);
    // exit 0 and no finding at all (an unused filter is an error too)
    const findings = r.stdout.split("\n").filter((l) => /: [EW]: /.test(l));
    expect({ code: r.code, findings, summary }).toEqual({ code: 0, findings: [], summary: expect.stringContaining("2 packages and 1 specfiles checked; 0 errors, 0 warnings") });
  });

  test("rpmlint without the project filters reports what they suppress (the filters are needed)", () => {
    const r = run(["rpmlint", SPEC, RPM]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain("unstripped-binary-or-object /usr/bin/kpulse");
  });

  describe("OpenCloudOS variant (make rpm-opencloudos)", () => {
    test("carries the .oc9 dist tag", () => {
      expect(RPM_OC.endsWith(`kpulse-${VERSION}-1.oc9.${ARCH}.rpm`)).toBe(true);
      expect(query(RPM_OC, "%{RELEASE} %{DISTTAG}")).toBe("1.oc9 oc9");
      expect(query(RPM, "%{RELEASE} %{DISTTAG}")).toBe("1 (none)");
    });

    /** The spec as rpm parses it for a dist tag, with extra macro definitions. */
    const parsed = (dist: string | undefined, defines: Record<string, string> = {}) =>
      mustRun(["rpmspec", "-P", "--define", "kpulse_version 1", "--define", `_sourcedir ${join(ROOT, "packaging/rpm")}`,
        ...(dist ? ["--define", `dist ${dist}`] : []),
        ...Object.entries(defines).flatMap(([k, v]) => ["--define", `${k} ${v}`]), SPEC]).stdout;

    test("needs the distribution's systemd-rpm-macros only on OpenCloudOS", () => {
      expect(parsed(".oc9")).toMatch(/^BuildRequires:\s+systemd-rpm-macros$/m);
      expect(parsed(undefined)).not.toContain("systemd-rpm-macros");
    });

    test("where the distribution defines the systemd macros, the spec uses them, not its own", () => {
      // Stand-ins for systemd-rpm-macros (no RPM distribution here to provide the real ones).
      const spec = parsed(".oc9", {
        "systemd_post()": "STANDIN_POST %*",
        "systemd_preun()": "STANDIN_PREUN %*",
        "systemd_postun_with_restart()": "STANDIN_POSTUN %*",
        systemd_requires: "Requires: STANDIN_REQUIRES",
        _unitdir: "/standin/unitdir",
      });
      for (const s of ["STANDIN_POST kpulse.service", "STANDIN_PREUN kpulse.service", "STANDIN_POSTUN kpulse.service", "Requires: STANDIN_REQUIRES", "/standin/unitdir/kpulse.service"]) expect(spec).toContain(s);
      expect(spec).not.toContain("systemctl");
      expect(spec).not.toMatch(/^Requires\(post\):/m);
    });

    test("turns on the spec's OpenCloudOS conditionals and keeps the same files", () => {
      expect(query(RPM_OC, "%{DESCRIPTION}")).toContain("OpenCloudOS 9");
      expect(query(RPM, "%{DESCRIPTION}")).not.toContain("OpenCloudOS");
      const files = (rpm: string) => query(rpm, "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]");
      expect(files(RPM_OC)).toBe(files(RPM));
      expect(query(RPM_OC, "[%{FILEDIGESTS}\n]")).toBe(query(RPM, "[%{FILEDIGESTS}\n]"));
    });
  });
});
