// SPDX-License-Identifier: Apache-2.0
//
// srv6d's XDP program: steers the frames that the AF_XDP engine owns to the
// AF_XDP socket of their rx queue and passes everything else to the kernel.
//
// Built by ebpf-redirect/build.rs with
//   clang -O2 -g -target bpf -I/usr/include/<arch>-linux-gnu -c
// and loaded by the Rust loader in src/lib.rs (aya). Only <linux/bpf.h> is
// used: libbpf's bpf_helpers.h is not assumed to be installed, so the few
// macros and helper declarations needed are defined here. Maps are BTF-style
// `.maps` definitions (hence -g); no kernel BTF and no CO-RE are needed.
//
// Decision order, each step counted in `stats` under the reason named:
//   1. ingress ifindex not in `ports`                  -> PASS  pass_not_port
//   2. frame shorter than an Ethernet header           -> PASS  pass_malformed
//   3. EtherType neither IPv4 nor IPv6 (ARP, LLDP,
//      VLAN-tagged ...)                                -> PASS  pass_not_ip
//   IPv6:
//   4. fixed header truncated or version != 6          -> PASS  pass_malformed
//   5. ICMPv6 header right after the fixed header and
//      not an echo request/reply (NDP, MLD, RS/RA,
//      errors ...); header truncated -> pass_malformed -> PASS  pass_ndp_icmpv6
//   6. destination multicast (ff00::/8) or link-local
//      (fe80::/10)                                     -> PASS  pass_link_local_or_multicast
//   7. destination in `local6` or `sid_prefixes`       -> XSK   redirect_sid
//   8. destination in `host_addrs6`                    -> PASS  pass_host_addr
//   9. LAN port                                        -> XSK   redirect_lan_routed
//  10. WAN port                                        -> PASS  pass_not_ours
//   IPv4:
//   4. header truncated, version != 4 or IHL < 5       -> PASS  pass_malformed
//   5. WAN port                                        -> PASS  pass_not_ours
//   6. destination multicast, class E, limited
//      broadcast (>= 224.0.0.0) or 169.254.0.0/16      -> PASS  pass_link_local_or_multicast
//   7. destination in `host_addrs4`                    -> PASS  pass_host_addr
//   8. otherwise (LAN port)                            -> XSK   redirect_lan_routed
//
// "XSK" is bpf_redirect_map(&xsks, rx_queue_index, XDP_PASS): a queue with no
// registered socket falls back to the kernel (still counted as a redirect).
//
// The map layouts below are mirrored by src/lib.rs; change both together.

#include <linux/bpf.h>

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name
#undef __always_inline
#define __always_inline inline __attribute__((always_inline))

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define be16(x) __builtin_bswap16(x)
#else
#define be16(x) (x)
#endif

static void *(*bpf_map_lookup_elem)(void *map, const void *key) =
	(void *)BPF_FUNC_map_lookup_elem;
static long (*bpf_redirect_map)(void *map, __u64 key, __u64 flags) =
	(void *)BPF_FUNC_redirect_map;

#define ETH_P_IPV4 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_ICMPV6_ 58
#define ICMPV6_ECHO_REQUEST_ 128
#define ICMPV6_ECHO_REPLY_ 129

#define ROLE_WAN 0
#define ROLE_LAN 1

#define MAX_QUEUES 64

/* Stats indices: the order of `RedirectStats` fields in src/lib.rs. */
enum stat_reason {
	STAT_REDIRECT_SID = 0,
	STAT_REDIRECT_LAN_ROUTED = 1,
	STAT_PASS_NOT_PORT = 2,
	STAT_PASS_NOT_IP = 3,
	STAT_PASS_NDP_ICMPV6 = 4,
	STAT_PASS_HOST_ADDR = 5,
	STAT_PASS_LINK_LOCAL_OR_MULTICAST = 6,
	STAT_PASS_NOT_OURS = 7,
	STAT_PASS_MALFORMED = 8,
	STAT__COUNT = 9,
};

struct port_info {
	__u32 role; /* ROLE_WAN or ROLE_LAN */
	__u32 vrf;  /* the engine's VRF of a LAN port; unused here */
};

struct in6_key {
	__u8 addr[16];
};

struct lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct ethhdr_ {
	__u8 dst[6];
	__u8 src[6];
	__u16 proto; /* network order */
};

struct ipv6hdr_ {
	__u8 version_tc;
	__u8 tc_flow[3];
	__u16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct iphdr_ {
	__u8 version_ihl;
	__u8 tos;
	__u16 tot_len;
	__u16 id;
	__u16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__u8 saddr[4];
	__u8 daddr[4];
};

/* rx queue index -> AF_XDP socket. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

/* ingress ifindex -> port role and VRF; ports not listed are not touched. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct port_info);
} ports SEC(".maps");

/* /128 addresses the engine owns (local SIDs, STAMP reflector ...). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct in6_key);
	__type(value, __u8);
} local6 SEC(".maps");

/* SID prefixes (locators) the engine owns. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm6_key);
	__type(value, __u8);
} sid_prefixes SEC(".maps");

/* The kernel host's own IPv4 addresses (network byte order). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} host_addrs4 SEC(".maps");

/* The kernel host's own IPv6 addresses. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct in6_key);
	__type(value, __u8);
} host_addrs6 SEC(".maps");

/* One u64 per decision reason, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 reason)
{
	__u64 *counter = bpf_map_lookup_elem(&stats, &reason);
	if (counter)
		*counter += 1; /* per-CPU slot: no atomic needed */
}

static __always_inline int pass(__u32 reason)
{
	count(reason);
	return XDP_PASS;
}

static __always_inline int to_engine(struct xdp_md *ctx, __u32 reason)
{
	count(reason);
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

static __always_inline int handle_ipv6(struct xdp_md *ctx,
				       const struct port_info *port, void *l3,
				       void *data_end)
{
	struct ipv6hdr_ *ip6 = l3;
	if ((void *)(ip6 + 1) > data_end)
		return pass(STAT_PASS_MALFORMED);
	if ((ip6->version_tc >> 4) != 6)
		return pass(STAT_PASS_MALFORMED);

	if (ip6->nexthdr == IPPROTO_ICMPV6_) {
		__u8 *icmp_type = (void *)(ip6 + 1);
		if ((void *)(icmp_type + 1) > data_end)
			return pass(STAT_PASS_MALFORMED);
		if (*icmp_type != ICMPV6_ECHO_REQUEST_ &&
		    *icmp_type != ICMPV6_ECHO_REPLY_)
			return pass(STAT_PASS_NDP_ICMPV6);
	}

	__u8 d0 = ip6->daddr[0];
	__u8 d1 = ip6->daddr[1];
	if (d0 == 0xff || (d0 == 0xfe && (d1 & 0xc0) == 0x80))
		return pass(STAT_PASS_LINK_LOCAL_OR_MULTICAST);

	struct in6_key key;
	__builtin_memcpy(key.addr, ip6->daddr, sizeof(key.addr));
	if (bpf_map_lookup_elem(&local6, &key))
		return to_engine(ctx, STAT_REDIRECT_SID);

	struct lpm6_key lpm = { .prefixlen = 128 };
	__builtin_memcpy(lpm.addr, key.addr, sizeof(lpm.addr));
	if (bpf_map_lookup_elem(&sid_prefixes, &lpm))
		return to_engine(ctx, STAT_REDIRECT_SID);

	if (bpf_map_lookup_elem(&host_addrs6, &key))
		return pass(STAT_PASS_HOST_ADDR);

	if (port->role == ROLE_LAN)
		return to_engine(ctx, STAT_REDIRECT_LAN_ROUTED);
	return pass(STAT_PASS_NOT_OURS);
}

static __always_inline int handle_ipv4(struct xdp_md *ctx,
				       const struct port_info *port, void *l3,
				       void *data_end)
{
	struct iphdr_ *ip4 = l3;
	if ((void *)(ip4 + 1) > data_end)
		return pass(STAT_PASS_MALFORMED);
	if ((ip4->version_ihl >> 4) != 4 || (ip4->version_ihl & 0x0f) < 5)
		return pass(STAT_PASS_MALFORMED);

	if (port->role != ROLE_LAN)
		return pass(STAT_PASS_NOT_OURS);

	__u8 d0 = ip4->daddr[0];
	__u8 d1 = ip4->daddr[1];
	if (d0 >= 224 || (d0 == 169 && d1 == 254))
		return pass(STAT_PASS_LINK_LOCAL_OR_MULTICAST);

	__u32 key;
	__builtin_memcpy(&key, ip4->daddr, sizeof(key));
	if (bpf_map_lookup_elem(&host_addrs4, &key))
		return pass(STAT_PASS_HOST_ADDR);

	return to_engine(ctx, STAT_REDIRECT_LAN_ROUTED);
}

SEC("xdp")
int xdp_redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	__u32 ifindex = ctx->ingress_ifindex;
	const struct port_info *port = bpf_map_lookup_elem(&ports, &ifindex);
	if (!port)
		return pass(STAT_PASS_NOT_PORT);

	struct ethhdr_ *eth = data;
	if ((void *)(eth + 1) > data_end)
		return pass(STAT_PASS_MALFORMED);

	if (eth->proto == be16(ETH_P_IPV6))
		return handle_ipv6(ctx, port, eth + 1, data_end);
	if (eth->proto == be16(ETH_P_IPV4))
		return handle_ipv4(ctx, port, eth + 1, data_end);
	return pass(STAT_PASS_NOT_IP);
}

char _license[] SEC("license") = "Apache-2.0";
