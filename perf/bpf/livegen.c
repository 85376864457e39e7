// SPDX-License-Identifier: Apache-2.0
//
// srv6bench's live-frame traffic generator: an XDP program run with
// BPF_PROG_TEST_RUN and BPF_F_TEST_XDP_LIVE_FRAMES on the generator's veth.
// Every run writes one whole frame: the data or the STAMP template (chosen
// per sequence number by the STAMP share, exactly as srv6bench's AF_PACKET
// generator chooses), then the per-frame fields (UDP source port of the
// flow, sequence numbers, the probe timestamp) with the UDP checksum
// updated incrementally (RFC 1624 eqn. 3, as perf/src/frames.rs
// csum_update), and returns XDP_TX: the kernel redirects it out of the
// ingress device, to the veth peer (the system under test), as an
// xdp_frame: no socket buffer on either side.
//
// The whole frame and its length are rewritten every time, so whatever the
// receiver did to a recycled page (the kernel's stack, for a SUT that
// passes the frame on) cannot leak into the next frame.
//
// Pacing: the test run calls the program as fast as the core allows; a run
// whose frame is not due yet (config.interval_fp) returns XDP_DROP, which
// sends nothing and is not counted. Several threads run test runs at once
// (each run's teardown waits for an RCU grace period), so the frame slot
// and the probe are taken with compare-and-swap. A pacer that falls more
// than max_lag_ns behind (the core was busy elsewhere) skips ahead rather
// than bursting: the offered count is what was really sent.
//
// Built by perf/build.rs (clang -target bpf); loaded and run by
// perf/src/livegen.rs, which mirrors the map layouts below.

#include <linux/bpf.h>

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) =
	(void *)BPF_FUNC_map_lookup_elem;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)BPF_FUNC_ktime_get_ns;
static long (*bpf_xdp_adjust_tail)(struct xdp_md *ctx, int delta) =
	(void *)BPF_FUNC_xdp_adjust_tail;
static long (*bpf_xdp_load_bytes)(struct xdp_md *ctx, __u32 off, void *buf,
				  __u32 len) = (void *)BPF_FUNC_xdp_load_bytes;
static long (*bpf_xdp_store_bytes)(struct xdp_md *ctx, __u32 off, void *buf,
				   __u32 len) = (void *)BPF_FUNC_xdp_store_bytes;

#define MAX_FRAME 1536

// A frame and where its per-frame fields are (octet offsets; 0: none).
struct tmpl {
	__u32 len;
	__u32 csum;       // the UDP checksum
	__u32 sport;      // UDP source port = sport_base + seq % flows
	__u32 sport_base;
	__u32 flows;
	__u32 seq64;      // 64-bit big-endian sequence number
	__u32 seq32a;     // 32-bit big-endian sequence number (low half)
	__u32 seq32b;     // a second copy of it
	__u32 ts;         // 64-bit big-endian probe timestamp (CLOCK_MONOTONIC)
	__u32 pad;
	__u8 bytes[MAX_FRAME];
};

// Written by srv6bench before a trial.
struct cfg {
	__u64 stamp_ppm;   // STAMP share in frames per million
	__u64 start_ns;    // CLOCK_MONOTONIC: the trial's start
	__u64 end_ns;      // CLOCK_MONOTONIC: no frame from then on
	__u64 interval_fp; // ns between frames x 256 (0: as fast as possible)
	__u64 max_lag_ns;  // a pacer further behind than this skips ahead
	__u64 probe_ns;    // ns between probe timestamps (0: none)
};

// Written here (srv6bench sets the start): frames generated so far (the
// next sequence number), when the next frame is due (ns since start_ns,
// x 256), when the next probe is due (CLOCK_MONOTONIC ns).
struct state {
	__u64 seq;
	__u64 next_fp;
	__u64 next_probe;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2); // 0: data, 1: STAMP
	__type(key, __u32);
	__type(value, struct tmpl);
} templates SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cfg);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct state);
} counter SEC(".maps");

// Replaces the big-endian 16-bit word at `off` by `v`, adding the change
// to the ones'-complement sum `*sum` (RFC 1624: ~m + m').
static __attribute__((always_inline)) int put16(struct xdp_md *ctx, __u32 off,
						__u16 v, __u32 *sum)
{
	__u8 w[2];
	if (bpf_xdp_load_bytes(ctx, off, w, 2))
		return -1;
	__u16 old = ((__u16)w[0] << 8) | w[1];
	*sum += (__u16)~old;
	*sum += v;
	w[0] = v >> 8;
	w[1] = v & 0xff;
	return bpf_xdp_store_bytes(ctx, off, w, 2) ? -1 : 0;
}

static __attribute__((always_inline)) int put32(struct xdp_md *ctx, __u32 off,
						__u32 v, __u32 *sum)
{
	if (put16(ctx, off, v >> 16, sum))
		return -1;
	return put16(ctx, off + 2, v & 0xffff, sum);
}

static __attribute__((always_inline)) int put64(struct xdp_md *ctx, __u32 off,
						__u64 v, __u32 *sum)
{
	if (put32(ctx, off, v >> 32, sum))
		return -1;
	return put32(ctx, off + 4, v & 0xffffffff, sum);
}

SEC("xdp")
int livegen(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct cfg *c = bpf_map_lookup_elem(&config, &zero);
	struct state *st = bpf_map_lookup_elem(&counter, &zero);
	if (!c || !st)
		return XDP_ABORTED;
	// Pacing: the test run calls this as fast as it can; a frame that is
	// not due yet is dropped here (its page goes straight back to the
	// pool) and never counted.
	__u64 now = bpf_ktime_get_ns();
	if (now >= c->end_ns || now < c->start_ns)
		return XDP_DROP;
	// The test runs of several threads may run this at once: a frame
	// slot is taken with a compare-and-swap, the loser drops its frame.
	if (c->interval_fp) {
		__u64 rel = now - c->start_ns;
		__u64 cur = st->next_fp;
		__u64 due = cur >> 8;
		if (rel < due)
			return XDP_DROP;
		__u64 base = rel - due > c->max_lag_ns ? rel << 8 : cur;
		if (__sync_val_compare_and_swap(&st->next_fp, cur,
						base + c->interval_fp) != cur)
			return XDP_DROP;
	}
	__u64 seq = __sync_fetch_and_add(&st->seq, 1);

	__u64 ppm = c->stamp_ppm;
	__u32 kind = ppm >= 1000000 ||
		     (ppm > 0 && (seq + 1) * ppm / 1000000 > seq * ppm / 1000000);
	int probe = 0;
	__u64 next_probe = st->next_probe;
	if (kind == 0 && c->probe_ns && now >= next_probe &&
	    __sync_val_compare_and_swap(&st->next_probe, next_probe,
					now + c->probe_ns) == next_probe)
		probe = 1;
	struct tmpl *t = bpf_map_lookup_elem(&templates, &kind);
	if (!t)
		return XDP_ABORTED;
	__u32 len = t->len;
	if (len < 14 || len > MAX_FRAME)
		return XDP_ABORTED;

	int have = (int)(ctx->data_end - ctx->data);
	if (have != (int)len && bpf_xdp_adjust_tail(ctx, (int)len - have))
		return XDP_ABORTED;
	if (bpf_xdp_store_bytes(ctx, 0, t->bytes, len))
		return XDP_ABORTED;

	// The template's checksum, now in the frame.
	__u8 hc0[2] = { 0, 0 };
	if (t->csum && bpf_xdp_load_bytes(ctx, t->csum, hc0, 2))
		return XDP_ABORTED;
	__u32 sum = (__u16)~(((__u16)hc0[0] << 8) | hc0[1]);
	if (t->sport && t->flows &&
	    put16(ctx, t->sport, t->sport_base + seq % t->flows, &sum))
		return XDP_ABORTED;
	if (t->seq64 && put64(ctx, t->seq64, seq, &sum))
		return XDP_ABORTED;
	if (t->seq32a && put32(ctx, t->seq32a, (__u32)seq, &sum))
		return XDP_ABORTED;
	if (t->seq32b && put32(ctx, t->seq32b, (__u32)seq, &sum))
		return XDP_ABORTED;
	if (t->ts && probe && put64(ctx, t->ts, now, &sum))
		return XDP_ABORTED;
	if (t->csum) {
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		__u16 hc = ~sum;
		if (hc == 0)
			hc = 0xffff;
		__u8 w[2] = { hc >> 8, hc & 0xff };
		if (bpf_xdp_store_bytes(ctx, t->csum, w, 2))
			return XDP_ABORTED;
	}
	return XDP_TX;
}

char _license[] SEC("license") = "Apache-2.0";

// Attached to the kernel SUT's receive veth while the live generator feeds
// it: a veth only takes XDP_TX frames from its peer when it has an XDP
// program; this one hands every frame to the kernel's stack.
SEC("xdp")
int pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
