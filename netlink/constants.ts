/**
 * Numbers from the Linux uapi headers (linux/netlink.h, rtnetlink.h, if_link.h,
 * if_addr.h, veth.h, neighbour.h, netfilter/nfnetlink.h, netfilter/nfnetlink_conntrack.h,
 * pkt_sched.h, pkt_cls.h, tc_act/tc_mirred.h, if_ether.h),
 * checked against the headers of kernel 6.18. They are ABI: the kernel never
 * renumbers them.
 */

export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;

export const NLMSG_HDRLEN = 16;
export const NLA_HDRLEN = 4;
export const IFINFOMSG_LEN = 16;
export const IFADDRMSG_LEN = 8;
export const RTMSG_LEN = 12;
/** struct ndmsg: u8 family, u8 pad, u16 pad, s32 ifindex, u16 state, u8 flags, u8 type. */
export const NDMSG_LEN = 12;
export const TCMSG_LEN = 20;
/** struct nlmsgerr: int error, then the offending request's nlmsghdr. */
export const NLMSGERR_LEN = 20;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ECHO = 0x8;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP_FILTERED = 0x20;
// Modifiers of GET requests.
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
// Modifiers of NEW requests.
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
// Flags of an NLMSG_ERROR reply.
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;

export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;
export const RTM_NEWQDISC = 36;
export const RTM_DELQDISC = 37;
export const RTM_GETQDISC = 38;
export const RTM_NEWTFILTER = 44;
export const RTM_DELTFILTER = 45;
export const RTM_GETTFILTER = 46;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;

export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;
export const IFF_PROMISC = 0x100;
export const IFF_LOWER_UP = 0x10000;

export const ARPHRD_ETHER = 1;
export const ARPHRD_LOOPBACK = 772;

export const IFLA_ADDRESS = 1;
export const IFLA_BROADCAST = 2;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_MASTER = 10;
export const IFLA_PROTINFO = 12;
export const IFLA_TXQLEN = 13;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKINFO = 18;
export const IFLA_IFALIAS = 20;
/** IFALIASZ less the NUL: the longest alias the kernel keeps. */
export const IFALIAS_MAX = 255;
export const IFLA_NET_NS_FD = 28;
export const IFLA_EXT_MASK = 29;
export const IFLA_PROMISCUITY = 30;
export const IFLA_LINK_NETNSID = 37;
export const IFLA_ALT_IFNAME = 53;

export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const IFLA_INFO_SLAVE_KIND = 4;

export const VETH_INFO_PEER = 1;

export const IFLA_VXLAN_ID = 1;
export const IFLA_VXLAN_LINK = 3;
export const IFLA_VXLAN_LOCAL = 4;
export const IFLA_VXLAN_TTL = 5;
export const IFLA_VXLAN_LEARNING = 7;
/** __be16, unlike the rest of rtnetlink. */
export const IFLA_VXLAN_PORT = 15;
export const IFLA_VXLAN_LOCAL6 = 17;

export const IFLA_MACVLAN_MODE = 1;
export const MACVLAN_MODE_PRIVATE = 1;
export const MACVLAN_MODE_VEPA = 2;
export const MACVLAN_MODE_BRIDGE = 4;
export const MACVLAN_MODE_PASSTHRU = 8;
export const MACVLAN_MODE_SOURCE = 16;

export const IFLA_BRPORT_MODE = 4;
export const IFLA_BRPORT_LEARNING = 8;
export const IFLA_BRPORT_ISOLATED = 33;

export const RTEXT_FILTER_SKIP_STATS = 1 << 3;

export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_BROADCAST = 4;
export const IFA_FLAGS = 8;

export const IFA_F_SECONDARY = 0x01;
export const IFA_F_NODAD = 0x02;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;

export const RTA_DST = 1;
export const RTA_SRC = 2;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_TABLE = 15;

export const RT_TABLE_UNSPEC = 0;
export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;

export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_SITE = 200;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RT_SCOPE_NOWHERE = 255;

export const RTN_UNSPEC = 0;
export const RTN_UNICAST = 1;

export const RTPROT_BOOT = 3;

/** rtm_flags of a route's next hop: the gateway is on the link even when no address of the link says so. */
export const RTNH_F_ONLINK = 4;

export const NDA_DST = 1;
export const NDA_LLADDR = 2;
export const NDA_IFINDEX = 8;

// ndm_state: one bit per state of the neighbour's state machine.
export const NUD_INCOMPLETE = 0x01;
export const NUD_REACHABLE = 0x02;
export const NUD_STALE = 0x04;
export const NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10;
export const NUD_FAILED = 0x20;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;

/** ndm_flags: the entry is in the device's own FDB (a VXLAN device's), not its master bridge's. */
export const NTF_SELF = 0x02;

// nfnetlink (linux/netfilter/nfnetlink.h) and ctnetlink (nfnetlink_conntrack.h). A message type is
// the subsystem in the high byte and the operation in the low byte.

/** struct nfgenmsg: u8 family, u8 version, __be16 res_id. */
export const NFGENMSG_LEN = 4;
export const NFNETLINK_V0 = 0;
export const NFNL_SUBSYS_CTNETLINK = 1;

export const IPCTNL_MSG_CT_NEW = 0;
export const IPCTNL_MSG_CT_GET = 1;
export const IPCTNL_MSG_CT_DELETE = 2;

// The integers in CTA_* attributes are big-endian (__be16/__be32), unlike the rest of netlink;
// CTA_PROTO_NUM and the ICMP type and code are single bytes.
export const CTA_TUPLE_ORIG = 1;
export const CTA_TUPLE_REPLY = 2;
export const CTA_STATUS = 3;
export const CTA_TIMEOUT = 7;
export const CTA_MARK = 8;
export const CTA_ID = 12;
export const CTA_ZONE = 18;

export const CTA_TUPLE_IP = 1;
export const CTA_TUPLE_PROTO = 2;
export const CTA_TUPLE_ZONE = 3;

export const CTA_IP_V4_SRC = 1;
export const CTA_IP_V4_DST = 2;
export const CTA_IP_V6_SRC = 3;
export const CTA_IP_V6_DST = 4;

export const CTA_PROTO_NUM = 1;
export const CTA_PROTO_SRC_PORT = 2;
export const CTA_PROTO_DST_PORT = 3;
export const CTA_PROTO_ICMP_ID = 4;
export const CTA_PROTO_ICMP_TYPE = 5;
export const CTA_PROTO_ICMP_CODE = 6;
export const CTA_PROTO_ICMPV6_ID = 7;
export const CTA_PROTO_ICMPV6_TYPE = 8;
export const CTA_PROTO_ICMPV6_CODE = 9;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;

// Traffic control (pkt_sched.h, pkt_cls.h, tc_act/tc_mirred.h). A handle is major:minor in 16 bits each.

export const TC_H_ROOT = 0xffffffff;
/** Where the ingress and clsact qdiscs hang (TC_H_CLSACT is the same number). */
export const TC_H_INGRESS = 0xfffffff1;
/** The handle both the ingress and the clsact qdisc must have, ffff:0. */
export const TC_H_INGRESS_QDISC = 0xffff0000;
/** Minors under ffff: that name clsact's hooks; the ingress qdisc takes TC_H_MIN_INGRESS too. */
export const TC_H_MIN_INGRESS = 0xfff2;
export const TC_H_MIN_EGRESS = 0xfff3;

export const TCA_KIND = 1;
export const TCA_OPTIONS = 2;

export const TCA_TBF_PARMS = 1;
export const TCA_TBF_RATE64 = 4;
export const TCA_TBF_BURST = 6;
/** struct tc_ratespec: cell_log, linklayer, overhead, cell_align, mpu, rate. */
export const TC_RATESPEC_LEN = 12;
/** struct tc_tbf_qopt: rate and peakrate (tc_ratespec), limit, buffer, mtu. */
export const TC_TBF_QOPT_LEN = 36;
export const TC_LINKLAYER_ETHERNET = 1;
/** A psched tick: the kernel's unit of TBF's buffer (PSCHED_SHIFT 6, since Linux 3.11). */
export const PSCHED_TICK_NS = 64;

export const TCA_U32_CLASSID = 1;
export const TCA_U32_SEL = 5;
export const TCA_U32_ACT = 7;
export const TC_U32_TERMINAL = 1;
/** struct tc_u32_sel without its keys. */
export const TC_U32_SEL_LEN = 16;
/** struct tc_u32_key: mask, val (both big-endian), off, offmask. */
export const TC_U32_KEY_LEN = 16;

export const TCA_ACT_KIND = 1;
export const TCA_ACT_OPTIONS = 2;
export const TCA_MIRRED_PARMS = 2;
/** struct tc_mirred: tc_gen (index, capab, action, refcnt, bindcnt), eaction, ifindex. */
export const TC_MIRRED_LEN = 28;
export const TCA_EGRESS_REDIR = 1;
export const TCA_EGRESS_MIRROR = 2;
export const TCA_INGRESS_REDIR = 3;
export const TCA_INGRESS_MIRROR = 4;
/** What a redirect does with the packet after it: it is gone from this path. */
export const TC_ACT_STOLEN = 4;

export const ETH_P_ALL = 0x0003;
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
