/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Shared by every kpulse BPF object: outcome counters the runtime exports as
 * <ns>_<probe>_events_total{outcome} (the label is the enumerator's name without KPULSE_, in
 * lower case, read from the object's BTF) and a fixed-window rate limiter.
 * Every event a probe sees ends in exactly one outcome, so losses are never silent.
 */
#ifndef KPULSE_COMMON_H
#define KPULSE_COMMON_H

enum kpulse_outcome {
	KPULSE_EMITTED = 0,       /* written to the ring buffer */
	KPULSE_RATELIMITED = 1,   /* suppressed by the per-second limit */
	KPULSE_RINGBUF_FULL = 2,  /* bpf_ringbuf_reserve failed: consumer too slow */
	KPULSE_FILTERED = 3,      /* excluded by configuration (e.g. neigh_invalidate) */
	KPULSE_OUTCOME_MAX = 4,
};

/* Keeps enum kpulse_outcome in the object's BTF for the runtime (outcome label names). */
const enum kpulse_outcome *kpulse_outcome_names __attribute__((unused));

/* The runtime finds this map by name in every object. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KPULSE_OUTCOME_MAX);
	__type(key, __u32);
	__type(value, __u64);
} kpulse_outcomes SEC(".maps");

static __always_inline void kpulse_count(__u32 outcome)
{
	__u64 *v = bpf_map_lookup_elem(&kpulse_outcomes, &outcome);
	if (v)
		*v += 1;
}

/* 0 disables the limit. Set by the loader from the probe's config before load. */
const volatile __u64 kpulse_max_events_per_sec = 0;

/* One shared window for all CPUs: a compare-and-swap elects the CPU that opens the next window. */
__u64 kpulse_window_start_ns = 0;
__u64 kpulse_window_count = 0;

static __always_inline bool kpulse_ratelimit_allows(__u64 now)
{
	__u64 limit = kpulse_max_events_per_sec;
	__u64 start;

	if (!limit)
		return true;
	start = kpulse_window_start_ns;
	if (now - start >= 1000000000ULL) {
		if (__sync_val_compare_and_swap(&kpulse_window_start_ns, start, now) == start)
			kpulse_window_count = 0;
	}
	return __sync_fetch_and_add(&kpulse_window_count, 1) < limit;
}

/*
 * Rate limit, then reserve a ring record of a constant size; when either refuses, the event is
 * counted (ratelimited or ringbuf_full) and NULL returned. Pair with kpulse_submit().
 */
static __always_inline void *kpulse_reserve(void *ring, __u64 size, __u64 now)
{
	void *e;

	if (!kpulse_ratelimit_allows(now)) {
		kpulse_count(KPULSE_RATELIMITED);
		return 0;
	}
	e = bpf_ringbuf_reserve(ring, size, 0);
	if (!e)
		kpulse_count(KPULSE_RINGBUF_FULL);
	return e;
}

static __always_inline void kpulse_submit(void *e)
{
	bpf_ringbuf_submit(e, 0);
	kpulse_count(KPULSE_EMITTED);
}

#endif
