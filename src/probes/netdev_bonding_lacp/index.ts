// netdev_bonding_lacp (event probe, tracer_name "lacp"): a change of the IEEE 802.3ad (LACP)
// state of a bond — a port leaving or joining the aggregator, the partner lost or found, churn —
// reported with the content of every file under /proc/net/bonding, and counted in
// netdev_bonding_lacp_total.
//
// HUATUO hooks the bonding module (kprobe ad_disable_collecting_distributing). Without kprobes,
// the kernel's own notifications serve: when 802.3ad stops or starts a port collecting and
// distributing, the bonding driver changes the slave's state and announces it (an RTM_NEWLINK
// for the slave, NETDEV_CHANGELOWERSTATE), and a bond whose aggregator loses or regains its
// ports changes carrier (an RTM_NEWLINK for the bond). So the probe listens to link
// notifications (the netdev_events listener), and on one for a bond or a bond's slave re-reads
// /proc/net/bonding and compares the 802.3ad state of each bond with what it read before. No
// polling. Where /proc/net/bonding does not exist (the bonding driver is not loaded) the probe is
// unsupported.
import { readdir, readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { NETLINK_ROUTE } from "../../../ffi/netlink.ts";
import type { Logger } from "../../log.ts";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetlink } from "../../netlink/host.ts";
import { asSocket } from "../netdev_events/index.ts";
import type { LinkMessage } from "../netdev_events/link.ts";
import { LinkListener } from "../../netlink/listener.ts";
import { defineProbe, ProbeUnsupportedError } from "../types.ts";
import { bondingContent, lacpState, parseBonding } from "./parse.ts";
import { CoalescingRunner } from "../../util/coalescing-runner.ts";

const TOTAL_HELP = "lacp disabled count";
/** Paths as HUATUO writes them in `content`, whatever procfs root or namespace was read. */
const SHOWN_DIR = "/proc/net/bonding";

/** A notification about a bond or one of its slaves. */
export function isBondLink(l: LinkMessage, known: ReadonlySet<string>): boolean {
  return l.kind === "bond" || l.slaveKind === "bond" || known.has(l.name);
}

export interface LacpWatcherOptions {
  /** The directory to read (<procfs>/proc/1/net/bonding…). */
  dir: string;
  log: Logger;
  /** A change of the 802.3ad state: HUATUO's tracer_data. */
  onChange(data: { content: string }): void;
}

/**
 * The 802.3ad state of every bond in one directory. start() reads the baseline; each check()
 * re-reads and reports a change (a bond whose state differs, or a new 802.3ad bond). Checks
 * never overlap: one asked for while another runs makes that one run again afterwards.
 */
export class LacpWatcher {
  total = 0;
  private known: ReadonlySet<string> = new Set();
  private states = new Map<string, string>();
  private readonly checks = new CoalescingRunner(() => this.compare());
  private stopped = false;
  private readonly errors = new Set<string>();

  constructor(private readonly opts: LacpWatcherOptions) {}

  /** Bond and slave names last seen (what notifications are matched against). */
  get names(): ReadonlySet<string> {
    return this.known;
  }

  async start(): Promise<void> {
    const { states } = await this.read();
    this.states = states;
  }

  /** Re-read and compare; resolves once the state read after the request has been compared. */
  check(): Promise<void> {
    return this.checks.run();
  }

  stop(): Promise<void> {
    this.stopped = true;
    return this.checks.stop();
  }

  private async compare(): Promise<void> {
    const { states, files } = await this.read();
    if (this.stopped) return;
    let changed = false;
    for (const [bond, state] of states) if (this.states.get(bond) !== state) changed = true;
    this.states = states;
    if (!changed) return;
    this.total++;
    this.opts.onChange({ content: bondingContent(files) });
  }

  /** Every file, as read, and the 802.3ad state of each bond in that mode. */
  private async read(): Promise<{ states: Map<string, string>; files: { path: string; text: string }[] }> {
    const names = (await readdir(this.opts.dir)).sort();
    const files: { path: string; text: string }[] = [];
    const states = new Map<string, string>();
    const known = new Set<string>();
    for (const name of names) {
      let text: string;
      try {
        text = await readFile(`${this.opts.dir}/${name}`, "utf8");
      } catch (err) {
        // A bond deleted between the listing and the read is simply gone.
        if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw err;
      }
      files.push({ path: `${SHOWN_DIR}/${name}`, text });
      known.add(name);
      try {
        const bond = parseBonding(text, `${this.opts.dir}/${name}`);
        for (const s of bond.slaves) known.add(s.name);
        const state = lacpState(bond);
        if (state !== null) states.set(name, state);
        this.errors.delete(name);
      } catch (err) {
        if (!this.errors.has(name)) this.opts.log.warn("cannot parse a bonding status file", { err: String(err) });
        this.errors.add(name);
      }
    }
    this.known = known;
    return { states, files };
  }
}

/** <procfs>/proc/1/net/bonding (the host's namespace), else our own namespace's; undefined when neither exists. */
export function bondingDir(procfsProc: (...p: string[]) => string): string | undefined {
  for (const dir of [procfsProc("1", "net", "bonding"), procfsProc("net", "bonding")]) if (existsSync(dir)) return dir;
  return undefined;
}

export const netdevBondingLacpProbe = defineProbe({
  name: "netdev_bonding_lacp",
  kind: "event",
  tracerName: "lacp",
  source: "/proc/net/bonding/*, re-read on netlink RTNLGRP_LINK notifications of bonds and their slaves",
  defaultEnabled: true,
  runtimeCapabilities: { CAP_NET_ADMIN: "the kernel writes the LACP actor/partner details of /proc/net/bonding/<bond> only for CAP_NET_ADMIN readers" },
  async create(ctx) {
    const dir = bondingDir(ctx.procfs.proc);
    if (!dir) {
      throw new ProbeUnsupportedError(`no ${ctx.procfs.proc("1", "net", "bonding")} nor ${ctx.procfs.proc("net", "bonding")}: the bonding driver is not loaded, there is no bond to watch`);
    }
    const watcher = new LacpWatcher({ dir, log: ctx.log, onChange: (data) => ctx.emit({ timeMs: Date.now(), data }) });
    await watcher.start();
    const check = () => {
      watcher.check().catch((err) => ctx.log.warn("cannot read the bonding status", { dir, err: String(err) }));
    };
    const listener = LinkListener.start({
      socket: asSocket(hostNetlink(ctx.procfs, ctx.log).open(NETLINK_ROUTE)),
      log: ctx.log,
      name: "netdev_bonding_lacp",
      onLinks: (links) => {
        if (links.some((l) => isBondLink(l, watcher.names))) check();
      },
      onOverrun: check,
    });
    // A change between the baseline and the subscription would otherwise wait for the next one.
    try {
      await watcher.check();
    } catch (err) {
      await listener.stop();
      throw err;
    }
    ctx.log.info("netdev_bonding_lacp watching", { dir, devices: [...watcher.names].join(",") });
    return {
      collect(): Sample[] {
        return [{ name: "total", help: TOTAL_HELP, type: "counter", value: watcher.total }];
      },
      async stop() {
        await listener.stop();
        await watcher.stop();
      },
    };
  },
});
