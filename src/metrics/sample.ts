// A metric sample as probes produce it. The registry adds `<namespace>_<probe>_` in front of
// `name` (and `container_` for container series) plus the host/region/container labels.

export type SampleType = "counter" | "gauge";

export interface ContainerLabels {
  container_host: string;
  container_hostnamespace: string;
  container_level: string;
  container_name: string;
  container_type: string;
}

export interface Sample {
  /** Name after the probe prefix, e.g. "receive_bytes_total" for netdev. */
  name: string;
  help: string;
  type: SampleType;
  value: number;
  labels?: Record<string, string>;
  /** Set for container series: name becomes `<probe>_container_<name>`, labels added. */
  container?: ContainerLabels;
}
