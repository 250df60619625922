// The Prometheus alerting rules, through Debian's real promtool: both rule files pass
// `promtool check rules`, their unit tests pass `promtool test rules`, and every alert has a
// unit test in which it fires and one in which it stays quiet.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../e2e/agent.ts";
import { requireTool } from "../e2e/prometheus.ts";

const DIR = join(ROOT, "packaging/prometheus");

function promtool(args: string[], cwd: string): { code: number; out: string } {
  const p = Bun.spawnSync([requireTool("promtool"), ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString() + p.stderr.toString() };
}

interface AlertTest {
  alertname: string;
  exp_alerts?: unknown[];
}

for (const ns of ["kpulse", "huatuo"]) {
  describe(`${ns}.rules.yml`, () => {
    const rulesFile = join(DIR, `${ns}.rules.yml`);
    const testFile = join(DIR, "tests", `${ns}.test.yml`);
    const alerts = (Bun.YAML.parse(readFileSync(rulesFile, "utf8")) as { groups: { rules: { alert?: string }[] }[] }).groups
      .flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));

    test("promtool check rules", () => {
      const r = promtool(["check", "rules", rulesFile], DIR);
      expect(r).toEqual({ code: 0, out: expect.stringContaining(`SUCCESS: ${alerts.length} rules found`) });
    });

    test("promtool test rules", () => {
      const r = promtool(["test", "rules", testFile], join(DIR, "tests"));
      expect(r).toEqual({ code: 0, out: expect.stringContaining("SUCCESS") });
    });

    test("every alert has a unit test where it fires and one where it does not; no test of an unknown alert", () => {
      const doc = Bun.YAML.parse(readFileSync(testFile, "utf8")) as { tests: { alert_rule_test?: AlertTest[] }[] };
      const cases = doc.tests.flatMap((t) => t.alert_rule_test ?? []);
      const coverage = alerts.map((alert) => {
        const mine = cases.filter((c) => c.alertname === alert);
        return { alert, fires: mine.some((c) => (c.exp_alerts ?? []).length > 0), quiet: mine.some((c) => (c.exp_alerts ?? []).length === 0) };
      });
      expect(coverage).toEqual(alerts.map((alert) => ({ alert, fires: true, quiet: true })));
      expect(cases.filter((c) => !alerts.includes(c.alertname))).toEqual([]);
      expect(alerts.length).toBeGreaterThanOrEqual(13);
    });
  });
}
