import { describe, expect, test } from "bun:test";
import { structLayoutOf, structSizeOf, withObjectFileBtf } from "../../src/bpf/btf.ts";
import { resolveLayout } from "../../src/probes/kit/decoders.ts";
import { decodeTcpRetransmit, phase, retransmitReason, TCP_RETRANSMIT_FIELDS, tcpFlags } from "../../src/probes/tcp_retransmit/decode.ts";
import { tcpRetransmitProbe } from "../../src/probes/tcp_retransmit/index.ts";

const OBJ = tcpRetransmitProbe.bpf.object;
const layout = withObjectFileBtf(OBJ, (btf) => structLayoutOf(btf, "tcp_retransmit_event"));
const size = withObjectFileBtf(OBJ, (btf) => structSizeOf(btf, "tcp_retransmit_event"));
const offsets = resolveLayout("tcp_retransmit_event", layout, TCP_RETRANSMIT_FIELDS);

describe("tcp_retransmit decoding", () => {
  test("phase follows the state and the flags", () => {
    expect(phase(2, 0x02)).toBe("connect"); // SYN_SENT, SYN
    expect(phase(12, 0x12)).toBe("connect"); // NEW_SYN_RECV, SYN|ACK
    expect(phase(1, 0x18)).toBe("data"); // ESTABLISHED, PSH|ACK
    expect(phase(8, 0x10)).toBe("data"); // CLOSE_WAIT: the peer closed, we still send
    expect(phase(4, 0x11)).toBe("close"); // FIN_WAIT1, FIN|ACK
    expect(phase(1, 0x11)).toBe("close"); // a FIN in flight
  });

  test("flags and reasons", () => {
    expect(tcpFlags(0x12)).toBe("SYN|ACK");
    expect(tcpFlags(0)).toBe("");
    expect(retransmitReason(1, 1, 4)).toBe("RTO");
    expect(retransmitReason(1, 1, 3)).toBe("fast_retransmit");
    expect(retransmitReason(1, 1, 0)).toBe("unknown");
    expect(retransmitReason(2, 3, 0)).toBe("RTO");
  });

  test("an IPv6 data retransmission laid out by the object's BTF", () => {
    const buf = new Uint8Array(size);
    const dv = new DataView(buf.buffer);
    const at = (f: keyof typeof TCP_RETRANSMIT_FIELDS) => offsets[f];
    buf.set([0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1], at("saddr"));
    buf.set([...Array(15).fill(0), 1], at("daddr"));
    buf.set(new TextEncoder().encode("curl"), at("comm"));
    buf[at("family")] = 6;
    buf[at("state")] = 1;
    buf[at("tcp_flags")] = 0x18;
    buf[at("ca_state")] = 4;
    buf[at("retransmits")] = 2;
    buf[at("kind")] = 1;
    dv.setUint16(at("sport"), 443, true);
    dv.setUint16(at("dport"), 51000, true);
    dv.setUint32(at("seq"), 4000000000, true);
    dv.setUint32(at("end_seq"), 4000001448, true);
    dv.setUint32(at("ack_seq"), 17, true);
    dv.setUint32(at("netns_inum"), 4026531840, true);
    dv.setUint32(at("skb_addr"), 0x12345678, true);
    dv.setUint32(at("skb_addr") + 4, 0xffff8881, true);
    expect(decodeTcpRetransmit(offsets, buf, dv, 0)).toMatchObject({
      tcp_saddr: "2001:db8::1", tcp_daddr: "::1", tcp_sport: 443, tcp_dport: 51000, comm: "curl",
      tcp_state: "ESTABLISHED", tcp_flags: "PSH|ACK", phase: "data", tcp_reason: "RTO", ca_state: "loss",
      tcp_seq: 4000000000, tcp_end_seq: 4000001448, tcp_ack_seq: 17, icsk_retransmits: 2,
      event_type: "retransmit_skb", net_namespace_inum: 4026531840, skb_addr: "0xffff888112345678",
    });
  });
});
