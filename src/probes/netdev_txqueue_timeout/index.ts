// netdev_txqueue_timeout (event probe): the transmit watchdog found a queue of a device stopped
// for longer than its watchdog timeout (net:net_dev_xmit_timeout, fired just before the driver's
// ndo_tx_timeout resets the device): queue_index, device_name, driver_name. It fires at most
// once per watchdog period and device, so there is no rate limit and no config section.
import objectPath from "../../../build/bpf/netdev_txqueue_timeout.bpf.o" with { type: "file" };
import { defineBpfEventProbe } from "../kit/bpf-events.ts";
import { decodeNetdevTxqueueTimeout, NETDEV_TXQUEUE_TIMEOUT_FIELDS } from "./decode.ts";

export const netdevTxqueueTimeoutProbe = defineBpfEventProbe({
  name: "netdev_txqueue_timeout",
  source: "bpf tp_btf/net_dev_xmit_timeout (fallback: tracepoint net/net_dev_xmit_timeout)",
  defaultEnabled: true,
  object: objectPath,
  ring: "netdev_txqueue_timeout_events",
  struct: "netdev_txqueue_timeout_event",
  fields: NETDEV_TXQUEUE_TIMEOUT_FIELDS,
  programs: [{ alternatives: ["netdev_txqueue_timeout_btf", "netdev_txqueue_timeout_tp"] }],
  decoder: ({ offsets }) => (u8, dv, at) => decodeNetdevTxqueueTimeout(offsets, u8, dv, at),
});
