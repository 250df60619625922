// netdev_dcb: IEEE 802.1Qbb PFC (priority flow control) frame counters of the devices listed in
// [MetricCollector.NetdevDCB] DeviceList, from rtnetlink RTM_GETDCB / DCB_CMD_IEEE_GET in the
// host's network namespace, HUATUO's `netdev_dcb_pfc_{send,received}_total{device,prio}`.
//
// Each listed device is asked when the probe starts. Devices without DCB (most: only some NIC
// drivers implement it), without PFC or missing are skipped with one log line each; when no
// listed device qualifies the probe is unsupported, with every device's reason.
import { NETLINK_ROUTE } from "../../../ffi/netlink.ts";
import { key, section } from "../../config/spec.ts";
import type { Logger } from "../../log.ts";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetlink, withSocket, type NetlinkConn, type NetlinkOpener } from "../../netlink/host.ts";
import { NetlinkError, request } from "../../netlink/request.ts";
import { defineProbe, ProbeUnsupportedError, type ProbeInstance } from "../types.ts";
import { DCB_ATTR_IFNAME, DCB_CMD_IEEE_GET, DCBMSG_SIZE, parseIeeeGetReply, PFC_PRIORITIES, RTM_GETDCB, type PfcCounters } from "./parse.ts";

export const NETDEV_DCB_CONFIG = section("MetricCollector.NetdevDCB", {
  DeviceList: key.strings([]),
});

const EOPNOTSUPP = 95;
const ENODEV = 19;
const SKIP_ERRNO: ReadonlyMap<number, string> = new Map([
  [EOPNOTSUPP, "no DCB support (EOPNOTSUPP)"],
  [ENODEV, "no such device (ENODEV)"],
]);

const SENT_HELP = "count of the sent pfc frames";
const RECEIVED_HELP = "count of the received pfc frames";
const PRIOS = Array.from({ length: PFC_PRIORITIES }, (_, p) => String(p));

type Answer = { pfc: PfcCounters } | { skip: string };

/** Ask one device; a device that cannot answer gives the reason, anything else throws. */
function askDevice(sock: NetlinkConn, device: string, ns: string): Answer {
  const where = `netlink RTM_GETDCB DCB_CMD_IEEE_GET ${device} (${ns})`;
  const payload = new Uint8Array(DCBMSG_SIZE);
  payload[1] = DCB_CMD_IEEE_GET; // family AF_UNSPEC (0)
  let pfc: PfcCounters | undefined;
  let answered = false;
  try {
    request(sock, { type: RTM_GETDCB, flags: 0, payload, attrs: [{ type: DCB_ATTR_IFNAME, value: device }], where }, (view, msg) => {
      if (msg.type !== RTM_GETDCB) return;
      answered = true;
      pfc = parseIeeeGetReply(view, msg, where);
    });
  } catch (err) {
    const reason = err instanceof NetlinkError ? SKIP_ERRNO.get(err.errno) : undefined;
    if (reason) return { skip: reason };
    throw err;
  }
  if (!answered) throw new Error(`${where}: no reply message`);
  return pfc ? { pfc } : { skip: "the driver reports no IEEE PFC settings" };
}

export const netdevDcbProbe = defineProbe({
  name: "netdev_dcb",
  kind: "metric",
  source: "netlink RTM_GETDCB DCB_CMD_IEEE_GET (devices in DeviceList)",
  defaultEnabled: true,
  config: NETDEV_DCB_CONFIG,

  create(ctx) {
    return dcbCollector(hostNetlink(ctx.procfs, ctx.log), [...new Set(ctx.config.DeviceList)], ctx.log);
  },
});

/** The collector for one namespace; throws ProbeUnsupportedError when no device qualifies. */
export function dcbCollector(opener: NetlinkOpener, deviceList: readonly string[], log: Logger): ProbeInstance {
  if (deviceList.length === 0) {
    log.info("[MetricCollector.NetdevDCB] DeviceList is empty: no PFC counters to export");
    return { collect: () => [], stop() {} };
  }
  const skipped: string[] = [];
  const devices = withSocket(opener, NETLINK_ROUTE, (sock) =>
    deviceList.filter((device) => {
      const a = askDevice(sock, device, opener.describe());
      if ("pfc" in a) return true;
      skipped.push(`${device}: ${a.skip}`);
      return false;
    }),
  );
  if (devices.length === 0) {
    throw new ProbeUnsupportedError(`no device in [MetricCollector.NetdevDCB] DeviceList has IEEE DCB PFC counters: ${skipped.join("; ")}`);
  }
  for (const s of skipped) log.info("netdev_dcb: device skipped", { reason: s });

  const gone = new Set<string>(); // devices that lost DCB later: logged once each
  return {
    collect() {
      return withSocket(opener, NETLINK_ROUTE, (sock) => {
        const samples: Sample[] = [];
        for (const device of devices) {
          const a = askDevice(sock, device, opener.describe());
          if ("skip" in a) {
            if (!gone.has(device)) log.warn("netdev_dcb: device skipped", { device, reason: a.skip });
            gone.add(device);
            continue;
          }
          gone.delete(device);
          samples.push(...pfcSamples(device, a.pfc));
        }
        return samples;
      });
    },
    stop() {},
  };
}

export function pfcSamples(device: string, pfc: PfcCounters): Sample[] {
  const out: Sample[] = [];
  for (let p = 0; p < PFC_PRIORITIES; p++) {
    const labels = { device, prio: PRIOS[p]! };
    out.push({ name: "pfc_send_total", help: SENT_HELP, type: "counter", value: pfc.sent[p]!, labels });
    out.push({ name: "pfc_received_total", help: RECEIVED_HELP, type: "counter", value: pfc.received[p]!, labels });
  }
  return out;
}
