// Driver information of a network device, as `ethtool -i` gets it: the SIOCETHTOOL ioctl with
// ETHTOOL_GDRVINFO (ethtool's netlink interface has no driver info). Issued on a netlink socket,
// so it asks the network namespace that socket was created in.
//
// struct ethtool_drvinfo (include/uapi/linux/ethtool.h):
//   u32 cmd; char driver[32]; char version[32]; char fw_version[32]; char bus_info[32];
//   char erom_version[32]; char reserved2[12]; u32 n_priv_flags, n_stats, testinfo_len,
//   eedump_len, regdump_len;                                                      196 bytes
import { cString } from "../kit/decoders.ts";

export const SIOCETHTOOL = 0x8946;
export const ETHTOOL_GDRVINFO = 0x00000003;
export const DRVINFO_SIZE = 196;
const DRIVER = 4, VERSION = 36, FW_VERSION = 68, STRING = 32;

export interface DriverInfo {
  driver: string;
  driverVersion: string;
  firmwareVersion: string;
}

/** What can issue the ioctl: a NetlinkSocket (ffi/netlink.ts) or a fake in tests. */
export interface IfreqIoctl {
  ifreqIoctl(request: number, ifname: string, data: Uint8Array): void;
}

/** A zeroed ethtool_drvinfo with cmd = ETHTOOL_GDRVINFO. */
export function drvinfoRequest(): Uint8Array {
  const buf = new Uint8Array(DRVINFO_SIZE);
  new DataView(buf.buffer).setUint32(0, ETHTOOL_GDRVINFO, true);
  return buf;
}

/** The three strings HUATUO reports, from a filled ethtool_drvinfo. */
export function parseDrvinfo(buf: Uint8Array): DriverInfo {
  if (buf.byteLength < DRVINFO_SIZE) throw new Error(`ethtool_drvinfo of ${buf.byteLength} bytes, expected ${DRVINFO_SIZE}`);
  return { driver: cString(buf, DRIVER, STRING), driverVersion: cString(buf, VERSION, STRING), firmwareVersion: cString(buf, FW_VERSION, STRING) };
}

/** ETHTOOL_GDRVINFO of `ifname`; throws what the ioctl throws (EOPNOTSUPP, ENODEV…). */
export function driverInfo(sock: IfreqIoctl, ifname: string): DriverInfo {
  const buf = drvinfoRequest();
  sock.ifreqIoctl(SIOCETHTOOL, ifname, buf);
  return parseDrvinfo(buf);
}
