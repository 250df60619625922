// A real browser's EventSource (Debian chromium, headless, driven by puppeteer-core) on the GET
// form of the watch stream receives a real kernel drop event, with its SSE id.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import puppeteer, { type Browser } from "puppeteer-core";
import { inCI, kernelTestSkipReason, startAgent, type Agent } from "./agent.ts";
import { closedUdpPort, sendUdp } from "./udp.ts";
import { WATCH_BINARY } from "./watch-helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const skip = kernelTestSkipReason() ?? (existsSync(CHROMIUM) || inCI ? undefined : "needs Debian chromium (make deps installs it)");

describe.skipIf(!!skip)("watch stream in a browser (EventSource)", () => {
  let agent: Agent;
  let browser: Browser;
  beforeAll(async () => {
    agent = await startAgent({
      binary: WATCH_BINARY,
      config: `[EventTracing.Dropwatch]\nMaxEventsPerSecond = 0\n`,
      args: ["--disable-storage"],
    });
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--headless"] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
  });

  test("an EventSource page receives a real drop event", async () => {
    const page = await browser.newPage();
    // Same origin as the agent: the page is the agent's /version document.
    await page.goto(`${agent.url}/version`);
    const port = await closedUdpPort();
    await page.evaluate((p) => {
      const w = window as any;
      w.received = [];
      const es = new EventSource(`/v1/events/watch?tracer_name=${encodeURIComponent("^dropwatch$")}`);
      w.es = es;
      w.opened = new Promise((r) => (es.onopen = r));
      es.onmessage = (e) => {
        const ce = JSON.parse(e.data);
        if (ce.data?.tracer_data?.dport === p) w.received.push({ id: e.lastEventId, ce });
      };
    }, port);
    await page.evaluate(() => (window as any).opened);
    await sendUdp(port, 1);
    await page.waitForFunction(() => (window as any).received.length > 0, { timeout: 10_000 });
    const [got] = (await page.evaluate(() => (window as any).received)) as { id: string; ce: any }[];
    expect(got!.id).toBe(got!.ce.id);
    expect(got!.id).toMatch(/^[0-9a-v]{20}$/);
    expect(got!.ce.specversion).toBe("1.0");
    expect(got!.ce.data.tracer_name).toBe("dropwatch");
    expect(got!.ce.data.tracer_data.drop_reason).toBe("SKB_DROP_REASON_NO_SOCKET");
    expect(got!.ce.data.tracer_data.dport).toBe(port);
    await page.evaluate(() => (window as any).es.close());
    await page.close();
  }, 60_000);
});
