// HUATUO's ExcludedContainerQos for an event probe: events whose container (found from the
// event's identity, e.g. its network namespace) is of an excluded pod QoS class are not emitted,
// and are counted. Events of no known container (the host's) are always emitted.
import { identityFromEventData, type ContainerQos, type ContainerView } from "../../containers/types.ts";
import type { Sample } from "../../metrics/sample.ts";
import { EVENTS_HELP } from "./bpf-events.ts";
import type { ProbeEmission } from "../types.ts";

export interface QosExclusion {
  /** The emit to hand the kit: passes on what is not excluded. */
  emit(ev: ProbeEmission): void;
  /** `events_total{outcome="container_qos_excluded"}` for the probe's collect(). */
  sample(): Sample;
}

export function excludeContainerQos(levels: readonly string[], view: ContainerView, emit: (ev: ProbeEmission) => void): QosExclusion {
  const excluded = new Set(levels.map((q) => q.toLowerCase() as ContainerQos));
  let dropped = 0;
  return {
    emit(ev) {
      if (excluded.size > 0) {
        const id = ev.identity ?? identityFromEventData(ev.data);
        const c = id && view.resolve(id);
        if (c && excluded.has(c.qos)) {
          dropped++;
          return;
        }
      }
      emit(ev);
    },
    sample: () => ({ name: "events_total", help: EVENTS_HELP, type: "counter", value: dropped, labels: { outcome: "container_qos_excluded" } }),
  };
}
