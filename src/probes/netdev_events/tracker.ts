// The state of netdev_events, pure: the watched devices (those DeviceList matches) with their
// last flags, the link status counters, and the event a link message makes. The probe feeds it
// the start-up dump (the baseline: counted, not saved, as HUATUO), then every notification, and
// a fresh dump after the kernel dropped notifications.
import type { Sample } from "../../metrics/sample.ts";
import type { DriverInfo } from "./ethtool.ts";
import { changedStatuses, currentStatuses, LINK_STATUSES, RTM_DELLINK, type LinkMessage, type LinkStatus } from "./link.ts";

interface Device {
  index: number;
  name: string;
  flags: number;
  info: DriverInfo;
}

const HELP: Record<LinkStatus, string> = {
  linkstatus_unknown: "Link status changes of the device not classified (reserved: always 0).",
  linkstatus_adminup: "Times the device was seen administratively up (ip link set up), the start-up state included.",
  linkstatus_admindown: "Times the device was seen administratively down (ip link set down), the start-up state included.",
  linkstatus_carrierup: "Times the device's carrier was seen up (IFF_LOWER_UP), the start-up state included.",
  linkstatus_carrierdown: "Times the device's carrier was seen down (IFF_LOWER_UP cleared), the start-up state included.",
};

const NO_INFO: DriverInfo = { driver: "", driverVersion: "", firmwareVersion: "" };

export class NetdevTracker {
  private readonly byIndex = new Map<number, Device>();
  /** Counts by device name, in LINK_STATUSES order. */
  private readonly counts = new Map<string, number[]>();
  emitted = 0;

  /**
   * @param match DeviceList
   * @param info driver information of a device (ETHTOOL_GDRVINFO); throws when it has none.
   * @param onInfoError told once per device without driver information (its labels stay "").
   */
  constructor(
    private readonly match: (name: string) => boolean,
    private readonly info: (name: string) => DriverInfo,
    private readonly onInfoError: (name: string, err: unknown) => void = () => {},
  ) {}

  /** The devices watched now, by name. */
  get devices(): string[] {
    return [...this.byIndex.values()].map((d) => d.name).sort();
  }

  /** Start-up state of every link: each matching device is watched, its state counted, nothing saved. */
  baseline(links: readonly LinkMessage[]): void {
    for (const l of links) if (!this.byIndex.has(l.index)) this.add(l);
  }

  /**
   * One notification: the tracer_data of the event it makes, or null (not watched, no admin or
   * carrier change). A matching device seen for the first time is watched from then on, its
   * state counted like the start-up baseline.
   */
  apply(l: LinkMessage): Record<string, unknown> | null {
    const dev = this.byIndex.get(l.index);
    if (l.type === RTM_DELLINK) {
      if (dev) this.remove(dev);
      return null;
    }
    if (!dev) {
      this.add(l);
      return null;
    }
    if (dev.name !== l.name) {
      // Renamed: watched under the new name if DeviceList still matches it, with a new baseline.
      this.remove(dev);
      this.add(l);
      return null;
    }
    const change = (dev.flags ^ l.flags) >>> 0;
    dev.flags = l.flags;
    const statuses = changedStatuses(l.flags, change);
    if (!statuses.length) return null;
    this.count(dev.name, statuses);
    this.emitted++;
    return {
      ifname: l.name,
      index: l.index,
      linkstatus: statuses.join(", "),
      mac: l.mac,
      start: false,
      driver: dev.info.driver,
      driver_version: dev.info.driverVersion,
      firmware_version: dev.info.firmwareVersion,
    };
  }

  /**
   * After lost notifications: a full dump. Changes against what was known become events (one
   * per device, the net change); devices missing from the dump are dropped.
   */
  resync(links: readonly LinkMessage[]): Record<string, unknown>[] {
    const seen = new Set(links.map((l) => l.index));
    for (const dev of [...this.byIndex.values()]) if (!seen.has(dev.index)) this.remove(dev);
    const out: Record<string, unknown>[] = [];
    for (const l of links) {
      const data = this.apply(l);
      if (data) out.push(data);
    }
    return out;
  }

  /** netdev_events_linkstatus_<status>_total{device,driver,driver_version,firmware_version}. */
  samples(): Sample[] {
    const out: Sample[] = [];
    for (const dev of this.byIndex.values()) {
      const counts = this.counts.get(dev.name) ?? [0, 0, 0, 0, 0];
      const labels = { device: dev.name, driver: dev.info.driver, driver_version: dev.info.driverVersion, firmware_version: dev.info.firmwareVersion };
      LINK_STATUSES.forEach((s, i) => out.push({ name: `${s}_total`, help: HELP[s], type: "counter", value: counts[i]!, labels }));
    }
    return out;
  }

  private add(l: LinkMessage): void {
    if (!this.match(l.name)) return;
    let info = NO_INFO;
    try {
      info = this.info(l.name);
    } catch (err) {
      this.onInfoError(l.name, err);
    }
    this.byIndex.set(l.index, { index: l.index, name: l.name, flags: l.flags, info });
    this.counts.set(l.name, [0, 0, 0, 0, 0]);
    this.count(l.name, currentStatuses(l.flags));
  }

  private remove(dev: Device): void {
    this.byIndex.delete(dev.index);
    // Its series go with it: names of short-lived devices (container veths) must not pile up.
    if (![...this.byIndex.values()].some((d) => d.name === dev.name)) this.counts.delete(dev.name);
  }

  private count(name: string, statuses: readonly LinkStatus[]): void {
    const c = this.counts.get(name);
    if (!c) return;
    for (const s of statuses) c[LINK_STATUSES.indexOf(s)]!++;
  }
}
