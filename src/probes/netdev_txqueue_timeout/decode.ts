// Turns one `struct netdev_txqueue_timeout_event` ring record into HUATUO's
// netdev_txqueue_timeout tracer_data. Offsets come from the loaded object's BTF
// (bpf/include/netdev_txqueue_timeout.h).
import { cString, type Offsets } from "../kit/decoders.ts";

/** Field name → size in bytes, as the decoder reads it. */
export const NETDEV_TXQUEUE_TIMEOUT_FIELDS = { ts_ns: 8, queue_index: 4, name: 16, driver: 32 } as const;

export type NetdevTxqueueTimeoutOffsets = Offsets<typeof NETDEV_TXQUEUE_TIMEOUT_FIELDS>;

export function decodeNetdevTxqueueTimeout(o: NetdevTxqueueTimeoutOffsets, u8: Uint8Array, dv: DataView, at: number): Record<string, unknown> {
  return {
    queue_index: dv.getUint32(at + o.queue_index, true),
    device_name: cString(u8, at + o.name, NETDEV_TXQUEUE_TIMEOUT_FIELDS.name),
    driver_name: cString(u8, at + o.driver, NETDEV_TXQUEUE_TIMEOUT_FIELDS.driver),
  };
}
