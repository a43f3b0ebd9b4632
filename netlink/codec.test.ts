import { describe, expect, it } from 'vitest';
import { parseAddress } from './addresses.js';
import { NlWriter, parseMessages, readDone, readNlmsgerr } from './codec.js';
import {
  IFINFOMSG_LEN,
  IFLA_LINKINFO,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP_INTR,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  RTM_NEWLINK,
} from './constants.js';
import { ackFor, doneFor, FakeKernel, hex, requestsOf } from './fake-kernel.js';
import { NetlinkHandle } from './handle.js';
import { parseIp } from './ip.js';
import { parseLink, writeCreateMacvlan, writeCreateVeth, writeCreateVxlan } from './links.js';
import type { MacvlanMode } from './macvlan.js';
import { parseFdbEntry, parseNeighbour } from './neighbours.js';
import { parseRoute } from './routes.js';
import { NetlinkSocket } from './socket.js';

/**
 * Byte-for-byte tests. The expected bytes are written out by hand, field by
 * field; the replies are what kernel 6.18 sent to iproute2 (seen with
 * `strace -xx`), and where iproute2 sends the same request as berth the
 * request bytes are iproute2's too. Little-endian hosts (x86-64, arm64).
 */

describe('link requests', () => {
  it('creates a veth pair in one RTM_NEWLINK with the peer inside VETH_INFO_PEER', async () => {
    const [sent] = await requestsOf((h) => h.createVeth('bt-a', 'bt-b'));
    // What `ip link add bt-a type veth peer name bt-b` sends, except that iproute2
    // leaves the NUL off IFLA_INFO_KIND ("veth", length 8); the kernel's NLA_STRING takes both.
    expect(sent).toEqual(
      hex(`
        60000000 1000 0506 01000000 00000000   // nlmsghdr: len 96, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 1, pid 0
        00 00 0000 00000000 00000000 00000000  // ifinfomsg: AF_UNSPEC, type 0, index 0, flags 0, change 0
        0900 0300 62742d61 00 000000           // IFLA_IFNAME "bt-a\\0", padded to 12
        3400 1200                              // IFLA_LINKINFO, 52 bytes
          0900 0100 76657468 00 000000         //   IFLA_INFO_KIND "veth\\0"
          2400 0200                            //   IFLA_INFO_DATA, 36 bytes
            2000 0100                          //     VETH_INFO_PEER, 32 bytes: the peer's own ifinfomsg and attributes
              00 00 0000 00000000 00000000 00000000
              0900 0300 62742d62 00 000000     //       IFLA_IFNAME "bt-b\\0"
      `),
    );
  });

  it('puts the peer netns fd, MTU and MACs inside the peer and the MTU on both ends', () => {
    const w = new NlWriter(16); // small, so the message also exercises growing the buffer
    w.begin(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 1);
    writeCreateVeth(w, 'veth1', 'eth0', {
      mtu: 1450,
      mac: Uint8Array.of(2, 0, 0, 0, 0, 1),
      peerMac: Uint8Array.of(2, 0, 0, 0, 0, 2),
      peerNetnsFd: 7,
    });
    expect(w.finish()).toEqual(
      hex(`
        90000000 1000 0506 01000000 00000000   // len 144
        00 00 0000 00000000 00000000 00000000
        0a00 0300 7665746831 00 0000           // IFLA_IFNAME "veth1\\0"
        0800 0400 aa050000                     // IFLA_MTU 1450
        0a00 0100 020000000001 0000            // IFLA_ADDRESS 02:00:00:00:00:01
        5000 1200                              // IFLA_LINKINFO, 80 bytes
          0900 0100 76657468 00 000000         //   IFLA_INFO_KIND "veth\\0"
          4000 0200                            //   IFLA_INFO_DATA, 64 bytes
            3c00 0100                          //     VETH_INFO_PEER, 60 bytes
              00 00 0000 00000000 00000000 00000000
              0900 0300 65746830 00 000000     //       IFLA_IFNAME "eth0\\0"
              0800 0400 aa050000               //       IFLA_MTU 1450
              0a00 0100 020000000002 0000      //       IFLA_ADDRESS 02:00:00:00:00:02
              0800 1c00 07000000               //       IFLA_NET_NS_FD 7
      `),
    );
  });

  it('sets the MTU by index as `ip link set ... mtu` does, in RTM_SETLINK', async () => {
    const [sent] = await requestsOf((h) => h.setMtu(3, 10));
    expect(sent).toEqual(
      hex(`
        28000000 1300 0500 01000000 00000000   // len 40, RTM_SETLINK, REQUEST|ACK
        00 00 0000 03000000 00000000 00000000  // ifinfomsg: index 3
        0800 0400 0a000000                     // IFLA_MTU 10
      `),
    );
  });

  it('sets an alias by index in RTM_SETLINK, as `ip link set ... alias` does, and refuses one the kernel would cut', async () => {
    const [sent] = await requestsOf((h) => h.setAlias(4, 'bw x'));
    expect(sent).toEqual(
      hex(`
        2c000000 1300 0500 01000000 00000000   // len 44, RTM_SETLINK, REQUEST|ACK
        00 00 0000 04000000 00000000 00000000  // ifinfomsg: index 4
        0900 1400 62772078 00 000000           // IFLA_IFALIAS "bw x\\0"
      `),
    );
    await expect(requestsOf((h) => h.setAlias(4, 'a'.repeat(256)))).rejects.toThrow('at most 255 bytes');
  });

  it('brings a link up by name with IFF_UP in both ifi_flags and ifi_change', async () => {
    const [sent] = await requestsOf((h) => h.setLinkUp('eth0'));
    expect(sent).toEqual(
      hex(`
        2c000000 1300 0500 01000000 00000000   // len 44, RTM_SETLINK
        00 00 0000 00000000 01000000 01000000  // index 0 (by name), flags IFF_UP, change IFF_UP
        0900 0300 65746830 00 000000           // IFLA_IFNAME "eth0\\0": the link to change
      `),
    );
  });

  it('renames by index, since with index 0 the kernel reads IFLA_IFNAME as the link to change', async () => {
    const sent = await requestsOf((h) => h.renameLink('tmp0', 'eth0'), { tmp0: 9 });
    expect(sent[1]).toEqual(
      hex(`
        2c000000 1300 0500 02000000 00000000   // RTM_SETLINK, seq 2 (seq 1 looked tmp0 up)
        00 00 0000 09000000 00000000 00000000  // index 9
        0900 0300 65746830 00 000000           // IFLA_IFNAME "eth0\\0": the new name
      `),
    );
  });

  it('looks a link up by name without stats, then sets bridge port flags in a nested IFLA_PROTINFO', async () => {
    const sent = await requestsOf((h) => h.setBridgePort('vb', { hairpin: true, learning: false, isolated: true }), {
      vb: 5,
    });
    expect(sent).toEqual([
      hex(`
        30000000 1200 0500 01000000 00000000   // len 48, RTM_GETLINK, REQUEST|ACK
        00 00 0000 00000000 00000000 00000000
        0700 0300 766200 00                    // IFLA_IFNAME "vb\\0"
        0800 1d00 08000000                     // IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS
      `),
      hex(`
        3c000000 1300 0500 02000000 00000000   // len 60, RTM_SETLINK, seq 2
        07 00 0000 05000000 00000000 00000000  // ifinfomsg: AF_BRIDGE (the bridge's setlink), index 5
        1c00 0c80                              // IFLA_PROTINFO | NLA_F_NESTED, 28 bytes
          0500 0400 01 000000                  //   IFLA_BRPORT_MODE 1 (hairpin)
          0500 0800 00 000000                  //   IFLA_BRPORT_LEARNING 0
          0500 2100 01 000000                  //   IFLA_BRPORT_ISOLATED 1
      `),
    ]);
  });

  it('dumps links with stats skipped', async () => {
    const kernel = new FakeKernel((req) => [doneFor(req)]);
    await new NetlinkHandle(new NetlinkSocket(kernel)).listLinks();
    expect(kernel.sent[0]).toEqual(
      hex(`
        28000000 1200 0103 01000000 00000000   // len 40, RTM_GETLINK, REQUEST|DUMP (ROOT|MATCH), no ACK
        00 00 0000 00000000 00000000 00000000
        0800 1d00 08000000                     // IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS
      `),
    );
  });
});

describe('link kind requests', () => {
  it('creates a VXLAN link with its VNI, local address, underlay, port, learning off and TTL', async () => {
    const sent = await requestsOf(
      (h) => h.createVxlan('vx0', { vni: 42, local: '192.168.77.1', underlay: 'u0', ttl: 64, mtu: 1450 }),
      { u0: 2 },
    );
    // The attributes `ip link add vx0 mtu 1450 type vxlan id 42 local 192.168.77.1 dstport 4789
    // dev u0 nolearning ttl 64` sends (116 bytes there too), in another order.
    expect(sent[1]).toEqual(
      hex(`
        74000000 1000 0506 02000000 00000000   // len 116, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 2 (seq 1 looked u0 up)
        00 00 0000 00000000 00000000 00000000
        0800 0300 76783000                     // IFLA_IFNAME "vx0\\0"
        0800 0400 aa050000                     // IFLA_MTU 1450
        4400 1200                              // IFLA_LINKINFO, 68 bytes
          0a00 0100 7678 6c61 6e00 0000        //   IFLA_INFO_KIND "vxlan\\0"
          3400 0200                            //   IFLA_INFO_DATA, 52 bytes
            0800 0100 2a000000                 //     IFLA_VXLAN_ID 42
            0800 0400 c0a84d01                 //     IFLA_VXLAN_LOCAL 192.168.77.1
            0800 0300 02000000                 //     IFLA_VXLAN_LINK 2, the underlay
            0600 0f00 12b5 0000                //     IFLA_VXLAN_PORT 4789, big-endian
            0500 0700 00 000000                //     IFLA_VXLAN_LEARNING 0
            0500 0500 40 000000                //     IFLA_VXLAN_TTL 64
      `),
    );
  });

  it('puts an IPv6 local address in IFLA_VXLAN_LOCAL6 and a given port as it is', () => {
    const w = new NlWriter();
    w.begin(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 1);
    writeCreateVxlan(w, 'vx6', { vni: 0xffffff, local: parseIp('fd00::1'), port: 8472, learning: true });
    expect(w.finish()).toEqual(
      hex(`
        68000000 1000 0506 01000000 00000000   // len 104
        00 00 0000 00000000 00000000 00000000
        0800 0300 76783600                     // IFLA_IFNAME "vx6\\0"
        4000 1200                              // IFLA_LINKINFO, 64 bytes
          0a00 0100 7678 6c61 6e00 0000
          3000 0200                            //   IFLA_INFO_DATA, 48 bytes
            0800 0100 ffffff00                 //     IFLA_VXLAN_ID 16777215, the largest
            1400 1100 fd000000 00000000 00000000 00000001  // IFLA_VXLAN_LOCAL6 fd00::1
            0600 0f00 2118 0000                //     IFLA_VXLAN_PORT 8472
            0500 0700 01 000000                //     IFLA_VXLAN_LEARNING 1
      `),
    );
  });

  it('refuses a VNI, port or TTL out of range before anything is sent', async () => {
    for (const [opts, text] of [
      [{ vni: 0x1000000 }, 'invalid VXLAN VNI 16777216: must be an integer from 0 to 16777215'],
      [{ vni: -1 }, 'invalid VXLAN VNI -1'],
      [{ vni: 1.5 }, 'invalid VXLAN VNI 1.5'],
      [{ vni: 1, port: 65536 }, 'invalid VXLAN port 65536'],
      [{ vni: 1, ttl: 256 }, 'invalid VXLAN TTL 256'],
    ] as const) {
      const kernel = new FakeKernel();
      const h = new NetlinkHandle(new NetlinkSocket(kernel));
      await expect(h.createVxlan('vx0', { ...opts, underlay: 'u0' })).rejects.toThrow(text);
      expect(kernel.sent).toEqual([]); // not even the underlay's lookup
    }
  });

  it('creates a macvlan on its parent, born in another netns, with its mode in IFLA_MACVLAN_MODE', () => {
    const w = new NlWriter();
    w.begin(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 1);
    writeCreateMacvlan(w, 'mv0', 2, 'bridge', { mtu: 1400, mac: Uint8Array.of(2, 0, 0, 0, 0, 7), netnsFd: 4 });
    // The attributes of `ip link add link u0 name mv0 netns b address 02:00:00:00:00:07 mtu 1400
    // type macvlan mode bridge` (104 bytes there too), in another order.
    expect(w.finish()).toEqual(
      hex(`
        68000000 1000 0506 01000000 00000000   // len 104
        00 00 0000 00000000 00000000 00000000
        0800 0300 6d763000                     // IFLA_IFNAME "mv0\\0"
        0800 0400 78050000                     // IFLA_MTU 1400
        0a00 0100 020000000007 0000            // IFLA_ADDRESS 02:00:00:00:00:07
        0800 0500 02000000                     // IFLA_LINK 2: the parent, in the netns the request is sent in
        0800 1c00 04000000                     // IFLA_NET_NS_FD 4: where the macvlan is born
        1c00 1200                              // IFLA_LINKINFO, 28 bytes
          0c00 0100 6d616376 6c616e00          //   IFLA_INFO_KIND "macvlan\\0"
          0c00 0200                            //   IFLA_INFO_DATA
            0800 0100 04000000                 //     IFLA_MACVLAN_MODE 4 (bridge)
      `),
    );
  });

  it('numbers the macvlan modes as if_link.h does, and refuses others', async () => {
    const modes = { private: 1, vepa: 2, bridge: 4, passthru: 8 } as const;
    for (const [mode, n] of Object.entries(modes)) {
      const sent = await requestsOf((h) => h.createMacvlan('mv0', 'u0', { mode: mode as MacvlanMode }), { u0: 2 });
      expect(sent[1]!.subarray(-4).readUInt32LE()).toBe(n);
    }
    const [bridgeByDefault] = (await requestsOf((h) => h.createMacvlan('mv0', 2))).slice(-1);
    expect(bridgeByDefault!.subarray(-4).readUInt32LE()).toBe(4);
    const kernel = new FakeKernel();
    const h = new NetlinkHandle(new NetlinkSocket(kernel));
    await expect(h.createMacvlan('mv0', 'u0', { mode: 'source' as MacvlanMode })).rejects.toThrow(
      "invalid macvlan mode 'source': use private, vepa, bridge, passthru",
    );
    expect(kernel.sent).toEqual([]);
  });

  it('creates an IFB link: a kind and nothing else', async () => {
    const [sent] = await requestsOf((h) => h.createIfb('ifb7'));
    // `ip link add ifb7 type ifb` sends the same 56 bytes, but for the NUL it leaves off "ifb".
    expect(sent).toEqual(
      hex(`
        38000000 1000 0506 01000000 00000000   // len 56, RTM_NEWLINK
        00 00 0000 00000000 00000000 00000000
        0900 0300 69666237 00 000000           // IFLA_IFNAME "ifb7\\0"
        0c00 1200                              // IFLA_LINKINFO
          0800 0100 69666200                   //   IFLA_INFO_KIND "ifb\\0"
      `),
    );
  });
});

describe('neighbour and FDB requests', () => {
  it('sets a permanent neighbour as `ip neigh replace 10.244.2.0 lladdr 02:00:00:00:02:00 dev vx0 nud permanent` does', async () => {
    const sent = await requestsOf((h) => h.setNeighbour('vx0', '10.244.2.0', '02:00:00:00:02:00'), { vx0: 4 });
    expect(sent[1]).toEqual(
      hex(`
        30000000 1c00 0505 02000000 00000000   // len 48, RTM_NEWNEIGH, REQUEST|ACK|REPLACE|CREATE
        02 00 0000 04000000 8000 00 00         // ndmsg: AF_INET, ifindex 4, NUD_PERMANENT, flags 0, type 0
        0800 0100 0af40200                     // NDA_DST 10.244.2.0
        0a00 0200 020000000200 0000            // NDA_LLADDR 02:00:00:00:02:00
      `),
    );
  });

  it('sets an IPv6 neighbour in another state, and deletes one by link and address', async () => {
    const sent = await requestsOf(async (h) => {
      await h.setNeighbour(4, 'fd00::2', '02:00:00:00:00:02', { state: 'reachable' });
      await h.deleteNeighbour(4, '10.244.2.0');
    });
    expect(sent).toEqual([
      hex(`
        3c000000 1c00 0505 01000000 00000000   // len 60
        0a 00 0000 04000000 0200 00 00         // AF_INET6, NUD_REACHABLE
        1400 0100 fd000000 00000000 00000000 00000002  // NDA_DST fd00::2
        0a00 0200 020000000002 0000
      `),
      hex(`
        24000000 1d00 0500 02000000 00000000   // len 36, RTM_DELNEIGH, REQUEST|ACK
        02 00 0000 04000000 0000 00 00         // no state: the kernel goes by link and address
        0800 0100 0af40200
      `),
    ]);
    await expect(
      requestsOf((h) => h.setNeighbour(4, '10.0.0.1', '02:00:00:00:00:02', { state: 'gone' as 'stale' })),
    ).rejects.toThrow("invalid neighbour state 'gone'");
  });

  it('dumps the neighbours of one link as `ip neigh show dev vx0` asks, the link in NDA_IFINDEX', async () => {
    const kernel = new FakeKernel((req) => [doneFor(req)]);
    const h = new NetlinkHandle(new NetlinkSocket(kernel));
    await h.listNeighbours(4);
    await h.listNeighbours(4, 6);
    expect(kernel.sent).toEqual([
      hex(`
        24000000 1e00 0103 01000000 00000000   // len 36, RTM_GETNEIGH, REQUEST|DUMP
        00 00 0000 00000000 0000 00 00         // AF_UNSPEC; strict checking wants the header's ifindex 0
        0800 0800 04000000                     // NDA_IFINDEX 4
      `),
      hex(`
        24000000 1e00 0103 02000000 00000000
        0a 00 0000 00000000 0000 00 00         // AF_INET6 only
        0800 0800 04000000
      `),
    ]);
  });

  it('sets an FDB entry on a VXLAN device: AF_BRIDGE, NTF_SELF, the remote VTEP in NDA_DST', async () => {
    const sent = await requestsOf((h) => h.setFdbEntry('vx0', '02:00:00:00:02:00', '192.168.77.2'), { vx0: 4 });
    // `bridge fdb replace 02:00:00:00:02:00 dev vx0 dst 192.168.77.2 self permanent` sends the same
    // but for the state, where it adds NUD_NOARP (0xc0).
    expect(sent[1]).toEqual(
      hex(`
        30000000 1c00 0505 02000000 00000000   // len 48, RTM_NEWNEIGH, REQUEST|ACK|REPLACE|CREATE
        07 00 0000 04000000 8000 02 00         // ndmsg: AF_BRIDGE, ifindex 4, NUD_PERMANENT, NTF_SELF
        0a00 0200 020000000200 0000            // NDA_LLADDR: the remote VTEP's MAC
        0800 0100 c0a84d02                     // NDA_DST 192.168.77.2: the remote underlay address
      `),
    );
  });

  it('deletes one remote of an FDB entry, or the whole entry, and dumps one device FDB as `bridge fdb show dev` does', async () => {
    const kernel = new FakeKernel((req) => (req.type === 30 ? [doneFor(req)] : [ackFor(req)]));
    const h = new NetlinkHandle(new NetlinkSocket(kernel));
    await h.deleteFdbEntry(4, '02:00:00:00:02:00', '192.168.77.2');
    await h.deleteFdbEntry(4, '02:00:00:00:02:00');
    await h.listFdbEntries(4);
    expect(kernel.sent).toEqual([
      hex(`
        30000000 1d00 0500 01000000 00000000   // len 48, RTM_DELNEIGH
        07 00 0000 04000000 0000 02 00         // AF_BRIDGE, NTF_SELF
        0a00 0200 020000000200 0000
        0800 0100 c0a84d02
      `),
      hex(`
        28000000 1d00 0500 02000000 00000000   // len 40: no NDA_DST, every remote of the MAC
        07 00 0000 04000000 0000 02 00
        0a00 0200 020000000200 0000
      `),
      hex(`
        1c000000 1e00 0103 03000000 00000000   // len 28, RTM_GETNEIGH, REQUEST|DUMP
        07 00 0000 04000000 0000 00 00         // AF_BRIDGE; the device goes in ndm_ifindex here
      `),
    ]);
  });
});

describe('address requests', () => {
  it('adds an IPv6 address without DAD exactly as `ip -6 addr add fd00::1/64 dev va nodad` does', async () => {
    const [sent] = await requestsOf((h) => h.addAddress(3, 'fd00::1/64', { noDad: true }));
    expect(sent).toEqual(
      hex(`
        40000000 1400 0506 01000000 00000000   // len 64, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE
        0a 40 02 00 03000000                   // ifaddrmsg: AF_INET6, /64, IFA_F_NODAD, scope 0, index 3
        1400 0200 fd000000 00000000 00000000 00000001  // IFA_LOCAL fd00::1
        1400 0100 fd000000 00000000 00000000 00000001  // IFA_ADDRESS fd00::1 (no peer: the address again)
      `),
    );
  });

  it('adds an IPv4 address with its subnet broadcast, and deletes it by local address and prefix', async () => {
    const sent = await requestsOf(async (h) => {
      await h.addAddress(3, '10.0.0.1/24', { broadcast: true });
      await h.deleteAddress(3, '10.0.0.1/24');
    });
    expect(sent).toEqual([
      hex(`
        30000000 1400 0506 01000000 00000000   // len 48, RTM_NEWADDR
        02 18 00 00 03000000                   // AF_INET, /24, flags 0, scope universe, index 3
        0800 0200 0a000001                     // IFA_LOCAL 10.0.0.1
        0800 0100 0a000001                     // IFA_ADDRESS 10.0.0.1
        0800 0400 0a0000ff                     // IFA_BROADCAST 10.0.0.255
      `),
      hex(`
        28000000 1500 0500 02000000 00000000   // len 40, RTM_DELADDR, REQUEST|ACK
        02 18 00 00 03000000
        0800 0200 0a000001
        0800 0100 0a000001
      `),
    ]);
  });

  it('leaves IFA_F_NODAD off IPv4 addresses, where DAD does not exist', async () => {
    const [sent] = await requestsOf((h) => h.addAddress(3, '10.0.0.1/32', { noDad: true }));
    expect(sent).toEqual(
      hex(`
        28000000 1400 0506 01000000 00000000
        02 20 00 00 03000000                   // /32, flags 0
        0800 0200 0a000001
        0800 0100 0a000001
      `),
    );
  });

  it('gives 127.0.0.0/8 host scope and a peer its own IFA_ADDRESS', async () => {
    const [sent] = await requestsOf((h) => h.addAddress(1, '127.0.0.2/8', { peer: '127.0.0.3' }));
    expect(sent).toEqual(
      hex(`
        28000000 1400 0506 01000000 00000000
        02 08 00 fe 01000000                   // /8, scope host (254)
        0800 0200 7f000002                     // IFA_LOCAL 127.0.0.2
        0800 0100 7f000003                     // IFA_ADDRESS 127.0.0.3, the peer
      `),
    );
  });
});

describe('route requests', () => {
  it('adds a default route exactly as `ip route add default via 10.0.0.2 metric 7` does', async () => {
    const [sent] = await requestsOf((h) => h.addRoute({ dst: 'default', gateway: '10.0.0.2', metric: 7 }));
    expect(sent).toEqual(
      hex(`
        2c000000 1800 0506 01000000 00000000   // len 44, RTM_NEWROUTE, REQUEST|ACK|EXCL|CREATE
        02 00 00 00 fe 03 00 01 00000000       // rtmsg: AF_INET, dst /0, table main, proto boot, scope universe, unicast
        0800 0500 0a000002                     // RTA_GATEWAY 10.0.0.2
        0800 0600 07000000                     // RTA_PRIORITY 7
      `),
    );
  });

  it('adds a device route with link scope, and an IPv6 route', async () => {
    const sent = await requestsOf(async (h) => {
      await h.addRoute({ dst: '10.1.0.0/16', dev: 4, src: '10.1.0.9' });
      await h.addRoute({ dst: 'fd01::/64', gateway: 'fd00::1' });
    });
    expect(sent).toEqual([
      hex(`
        34000000 1800 0506 01000000 00000000   // len 52
        02 10 00 00 fe 03 fd 01 00000000       // dst /16, scope link (no gateway)
        0800 0100 0a010000                     // RTA_DST 10.1.0.0
        0800 0400 04000000                     // RTA_OIF 4
        0800 0700 0a010009                     // RTA_PREFSRC 10.1.0.9
      `),
      hex(`
        44000000 1800 0506 02000000 00000000   // len 68
        0a 40 00 00 fe 03 00 01 00000000       // AF_INET6, dst /64, scope universe
        1400 0100 fd010000 00000000 00000000 00000000  // RTA_DST fd01::
        1400 0500 fd000000 00000000 00000000 00000001  // RTA_GATEWAY fd00::1
      `),
    ]);
  });

  it('adds an onlink route exactly as `ip route add 10.244.2.0/24 via 10.244.2.0 dev vx0 onlink` does', async () => {
    const [sent] = await requestsOf((h) =>
      h.addRoute({ dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 4, onlink: true }),
    );
    expect(sent).toEqual(
      hex(`
        34000000 1800 0506 01000000 00000000   // len 52, RTM_NEWROUTE
        02 18 00 00 fe 03 00 01 04000000       // /24, table main, proto boot, scope universe, unicast, RTNH_F_ONLINK
        0800 0100 0af40200                     // RTA_DST 10.244.2.0
        0800 0500 0af40200                     // RTA_GATEWAY 10.244.2.0: the remote block's first address
        0800 0400 04000000                     // RTA_OIF 4
      `),
    );
  });

  it('deletes with protocol, type and scope left open, and a table above 255 in RTA_TABLE', async () => {
    const [sent] = await requestsOf((h) => h.deleteRoute({ dst: '10.1.0.0/16', dev: 3, table: 1000 }));
    expect(sent).toEqual(
      hex(`
        34000000 1900 0500 01000000 00000000   // len 52, RTM_DELROUTE, REQUEST|ACK
        02 10 00 00 00 00 ff 00 00000000       // table 0 (see RTA_TABLE), proto 0, scope nowhere (any), type unspec
        0800 0f00 e8030000                     // RTA_TABLE 1000
        0800 0100 0a010000                     // RTA_DST 10.1.0.0
        0800 0400 03000000                     // RTA_OIF 3
      `),
    );
  });

  it('dumps routes of one family and table', async () => {
    const kernel = new FakeKernel((req) => [doneFor(req)]);
    await new NetlinkHandle(new NetlinkSocket(kernel)).listRoutes({ family: 6 });
    expect(kernel.sent[0]).toEqual(
      hex(`
        1c000000 1a00 0103 01000000 00000000   // len 28, RTM_GETROUTE, REQUEST|DUMP
        0a 00 00 00 fe 00 00 00 00000000       // AF_INET6, table main: the kernel filters (strict checking)
      `),
    );
  });
});

describe('kernel replies', () => {
  it('decodes an error with the request echoed in full and the extended-ACK text', () => {
    // The kernel's answer to `ip link set bt-a mtu 10` on a veth.
    const [msg, ...rest] = parseMessages(
      hex(`
        60000000 0200 0002 adb3036b 04130000   // len 96, NLMSG_ERROR, NLM_F_ACK_TLVS, seq, pid
        eaffffff                               // error -22 (EINVAL)
        28000000 1000 0500 adb3036b 00000000   // the request's header: not NLM_F_CAPPED, so its body follows
        00000000 03000000 00000000 00000000 0800 0400 0a000000
        2100 0100 6d7475206c657373207468616e20646576696365206d696e696d756d 00 000000
                                               // NLMSGERR_ATTR_MSG "mtu less than device minimum\\0"
      `),
    );
    expect(rest).toEqual([]);
    expect(msg?.type).toBe(2);
    expect(readNlmsgerr(msg!)).toEqual({
      error: -22,
      requestType: 16,
      requestSeq: 1795404717,
      extAck: 'mtu less than device minimum',
    });
  });

  it('decodes an ACK (error 0, request header only) and an error without TLVs', () => {
    const [ack] = parseMessages(
      hex(`
        24000000 0200 0001 0fb5036b 182e0000   // len 36, NLMSG_ERROR, NLM_F_CAPPED
        00000000                               // error 0: an ACK
        30000000 1400 0506 0fb5036b 00000000   // the request's header (RTM_NEWADDR)
      `),
    );
    expect(readNlmsgerr(ack!)).toEqual({ error: 0, requestType: 20, requestSeq: 1795405071 });

    // `ip link set vb master va` where va is a veth: no extended ACK at all.
    const [err] = parseMessages(
      hex(`
        3c000000 0200 0000 10b5036b 322e0000   // len 60, NLMSG_ERROR, no flags
        a1ffffff                               // error -95 (EOPNOTSUPP)
        28000000 1000 0500 10b5036b 00000000
        00000000 02000000 00000000 00000000 0800 0a00 03000000
      `),
    );
    expect(readNlmsgerr(err!)).toEqual({ error: -95, requestType: 16, requestSeq: 1795405072 });
  });

  it('decodes an extended ACK that names the offending attribute by offset', () => {
    const [msg] = parseMessages(
      hex(`
        34000000 0200 0003 05000000 00000000   // len 52, NLMSG_ERROR, CAPPED|ACK_TLVS
        efffffff                               // error -17 (EEXIST)
        20000000 1000 0506 05000000 00000000
        0800 0200 20000000                     // NLMSGERR_ATTR_OFFS 32
        0800 0100 6e6f7065                     // NLMSGERR_ATTR_MSG "nope" (no NUL, the length ends it)
      `),
    );
    expect(readNlmsgerr(msg!)).toEqual({
      error: -17,
      requestType: 16,
      requestSeq: 5,
      extAck: 'nope',
      extAckOffset: 32,
    });
  });

  it('decodes NLMSG_DONE with its result, and with an error and extended ACK', () => {
    const [ok] = parseMessages(
      hex(`
        14000000 0300 2200 12b5036b 832e0000   // len 20, NLMSG_DONE, MULTI|DUMP_FILTERED
        00000000
      `),
    );
    expect(readDone(ok!)).toEqual({ error: 0 });
    const [bad] = parseMessages(
      hex(`
        48000000 0300 0202 07000000 00000000   // len 72, NLMSG_DONE, MULTI|ACK_TLVS
        eaffffff                               // -22
        3300 0100 496e76616c69642076616c75657320696e2068656164657220666f72206c696e6b2064756d702072657175657374 00 00
                                               // NLMSGERR_ATTR_MSG, 51 bytes, padded to 52
      `),
    );
    expect(readDone(bad!)).toEqual({ error: -22, extAck: 'Invalid values in header for link dump request' });
  });

  it('decodes a route dump datagram holding two RTM_NEWROUTE messages', () => {
    // The kernel's answer to `ip -4 route show table main`.
    const messages = parseMessages(
      hex(`
        3c000000 1800 2200 12b5036b 832e0000   // RTM_NEWROUTE, MULTI|DUMP_FILTERED
        02 00 00 00 fe 03 00 01 00000000       // AF_INET, /0, table main, proto boot, scope universe, unicast
        0800 0f00 fe000000                     // RTA_TABLE 254
        0800 0600 07000000                     // RTA_PRIORITY 7
        0800 0500 0a000002                     // RTA_GATEWAY 10.0.0.2
        0800 0400 03000000                     // RTA_OIF 3
        3c000000 1800 2200 12b5036b 832e0000
        02 18 00 00 fe 02 fd 01 00000000       // /24, proto kernel, scope link
        0800 0f00 fe000000
        0800 0100 0a000000                     // RTA_DST 10.0.0.0
        0800 0700 0a000001                     // RTA_PREFSRC 10.0.0.1
        0800 0400 03000000
      `),
    );
    expect(messages.map((m) => parseRoute(m))).toEqual([
      {
        family: 4,
        dst: 'default',
        gateway: '10.0.0.2',
        dev: 3,
        scope: 'universe',
        table: 254,
        protocol: 'boot',
        type: 'unicast',
        metric: 7,
      },
      {
        family: 4,
        dst: '10.0.0.0/24',
        dev: 3,
        src: '10.0.0.1',
        scope: 'link',
        table: 254,
        protocol: 'kernel',
        type: 'unicast',
      },
    ]);
    expect(parseRoute(messages[0]!, { table: 100 })).toBeUndefined();
    expect(parseRoute(messages[0]!, { family: 6 })).toBeUndefined();
    expect(parseRoute(messages[0]!, { table: 0 })).toBeDefined();
  });

  it('decodes an RTM_NEWADDR reply', () => {
    // From `ip -4 addr show dev va` after `ip addr add 10.0.0.1/24 brd + dev va`.
    const [msg] = parseMessages(
      hex(`
        54000000 1400 2200 13b5036b 892e0000   // len 84, RTM_NEWADDR
        02 18 80 00 03000000                   // AF_INET, /24, IFA_F_PERMANENT, scope universe, index 3
        0800 0100 0a000001                     // IFA_ADDRESS
        0800 0200 0a000001                     // IFA_LOCAL
        0800 0400 0a0000ff                     // IFA_BROADCAST
        0700 0300 766100 00                    // IFA_LABEL "va"
        0800 0800 80000000                     // IFA_FLAGS
        1400 0600 ffffffff ffffffff 8e370100 8e370100  // IFA_CACHEINFO, not read
      `),
    );
    expect(parseAddress(msg!)).toEqual({
      index: 3,
      cidr: '10.0.0.1/24',
      family: 4,
      scope: 'universe',
      flags: 0x80,
      broadcast: '10.0.0.255',
      label: 'va',
    });
  });

  it('decodes an RTM_NEWLINK reply of a veth (trimmed to the attributes read, plus some that are not)', () => {
    const [msg] = parseMessages(
      hex(`
        6c000000 1000 0000 10b5036b fb0fe9d5   // len 108, RTM_NEWLINK
        00 00 0100 03000000 43100100 00000000  // AF_UNSPEC, ARPHRD_ETHER, index 3, UP|BROADCAST|RUNNING|MULTICAST|LOWER_UP
        0700 0300 766100 00                    // IFLA_IFNAME "va"
        0800 0d00 e8030000                     // IFLA_TXQLEN 1000, not read
        0500 1000 06 000000                    // IFLA_OPERSTATE 6 (up)
        0800 0400 dc050000                     // IFLA_MTU 1500
        0a00 0100 16cbb09053ee 0000            // IFLA_ADDRESS
        0800 0500 02000000                     // IFLA_LINK 2: the peer
        1000 1200                              // IFLA_LINKINFO
          0900 0100 76657468 00000000          //   IFLA_INFO_KIND "veth"
        0400 3e80                              // empty nests with NLA_F_NESTED set
        0400 4180
      `),
    );
    expect(parseLink(msg!)).toEqual({
      index: 3,
      name: 'va',
      type: 'veth',
      mtu: 1500,
      mac: '16:cb:b0:90:53:ee',
      up: true,
      promisc: false,
      flags: 0x11043,
      operState: 'up',
      peerIndex: 2,
    });
    const kinds = [...msg!.attrs(IFINFOMSG_LEN)].map((a) => [a.type, a.nested]);
    expect(kinds).toEqual([
      [3, false],
      [13, false],
      [16, false],
      [4, false],
      [1, false],
      [5, false],
      [18, false],
      [62, true],
      [65, true],
    ]);
    expect(msg!.attrs(IFINFOMSG_LEN).nested(IFLA_LINKINFO)?.str(1)).toBe('veth');
  });

  it('decodes lo as loopback, and a bridge port with its master and its peer in another netns', () => {
    const [lo, port] = parseMessages(
      hex(`
        3c000000 1000 0000 01000000 00000000
        00 00 0403 01000000 49000100 00000000  // ARPHRD_LOOPBACK (772), index 1, UP|LOOPBACK|RUNNING|LOWER_UP
        0700 0300 6c6f00 00                    // IFLA_IFNAME "lo"
        0800 0400 00000100                     // IFLA_MTU 65536
        0a00 0100 000000000000 0000            // IFLA_ADDRESS 00:00:00:00:00:00
        48000000 1000 0000 01000000 00000000
        00 00 0100 07000000 02110000 00000000  // index 7, BROADCAST|PROMISC|MULTICAST, down
        0700 0300 766200 00                    // IFLA_IFNAME "vb"
        0500 1000 02 000000                    // IFLA_OPERSTATE 2 (down)
        0800 0a00 04000000                     // IFLA_MASTER 4
        0800 0500 02000000                     // IFLA_LINK 2
        0800 2500 00000000                     // IFLA_LINK_NETNSID 0
      `),
    );
    expect(parseLink(lo!)).toMatchObject({
      index: 1,
      name: 'lo',
      type: 'loopback',
      mtu: 65536,
      up: true,
      operState: 'unknown',
    });
    expect(parseLink(lo!)?.mac).toBe('00:00:00:00:00:00');
    expect(parseLink(port!)).toEqual({
      index: 7,
      name: 'vb',
      type: 'device',
      mtu: 0,
      up: false,
      promisc: true,
      flags: 0x1102,
      operState: 'down',
      masterIndex: 4,
      peerIndex: 2,
      peerNetnsId: 0,
    });
  });

  it('decodes a VXLAN link with its settings and its underlay as the parent', () => {
    // From `ip -d link show vx0` (trimmed) after the `ip link add ... type vxlan` above.
    const [msg] = parseMessages(
      hex(`
        98000000 1000 0000 01000000 00000000   // len 152, RTM_NEWLINK
        00 00 0100 04000000 43100100 00000000  // ARPHRD_ETHER, index 4, UP|BROADCAST|RUNNING|MULTICAST|LOWER_UP
        0800 0300 76783000                     // IFLA_IFNAME "vx0"
        0800 0400 aa050000                     // IFLA_MTU 1450
        0500 1000 00 000000                    // IFLA_OPERSTATE 0: a VXLAN device does not know
        0a00 0100 6248e4eabfd3 0000            // IFLA_ADDRESS
        5400 1200                              // IFLA_LINKINFO, 84 bytes
          0a00 0100 76786c61 6e00 0000         //   IFLA_INFO_KIND "vxlan"
          4400 0200                            //   IFLA_INFO_DATA, 68 bytes
            0800 0100 2a000000                 //     IFLA_VXLAN_ID 42
            0800 0300 02000000                 //     IFLA_VXLAN_LINK 2
            0800 0400 c0a84d01                 //     IFLA_VXLAN_LOCAL
            0500 0500 40 000000                //     IFLA_VXLAN_TTL 64
            0500 0600 00 000000                //     IFLA_VXLAN_TOS, not read
            0500 0700 00 000000                //     IFLA_VXLAN_LEARNING 0
            0600 0f00 12b5 0000                //     IFLA_VXLAN_PORT 4789
            0800 0800 2c010000                 //     IFLA_VXLAN_AGEING 300, not read
      `),
    );
    expect(parseLink(msg!)).toEqual({
      index: 4,
      name: 'vx0',
      type: 'vxlan',
      mtu: 1450,
      mac: '62:48:e4:ea:bf:d3',
      up: true,
      promisc: false,
      flags: 0x11043,
      operState: 'unknown',
      parentIndex: 2,
      vxlan: { vni: 42, local: '192.168.77.1', port: 4789, learning: false, ttl: 64 },
    });
  });

  it('decodes a macvlan with its mode, its IFLA_LINK as the parent in another netns, not as a peer', () => {
    // From `ip -d link show mv0` (trimmed) in the netns the macvlan was born in.
    const [msg] = parseMessages(
      hex(`
        90000000 1000 0000 01000000 00000000   // len 144
        00 00 0100 03000000 02100000 00000000  // index 3, BROADCAST|MULTICAST
        0800 0300 6d763000                     // IFLA_IFNAME "mv0"
        0500 1000 02 000000                    // IFLA_OPERSTATE 2 (down)
        0800 0400 78050000                     // IFLA_MTU 1400
        0a00 0100 020000000007 0000            // IFLA_ADDRESS
        3c00 1200                              // IFLA_LINKINFO, 60 bytes
          0c00 0100 6d616376 6c616e00          //   IFLA_INFO_KIND "macvlan"
          2c00 0200                            //   IFLA_INFO_DATA, 44 bytes
            0800 0100 04000000                 //     IFLA_MACVLAN_MODE 4 (bridge)
            0600 0200 0000 0000                //     IFLA_MACVLAN_FLAGS, not read
            0800 0600 00000000                 //     IFLA_MACVLAN_MACADDR_COUNT
            0800 0700 e8030000                 //     IFLA_MACVLAN_BC_QUEUE_LEN
            0800 0800 e8030000                 //     IFLA_MACVLAN_BC_QUEUE_LEN_USED
        0800 2500 00000000                     // IFLA_LINK_NETNSID 0: the parent is in another netns
        0800 0500 02000000                     // IFLA_LINK 2: the parent
      `),
    );
    expect(parseLink(msg!)).toEqual({
      index: 3,
      name: 'mv0',
      type: 'macvlan',
      mtu: 1400,
      mac: '02:00:00:00:00:07',
      up: false,
      promisc: false,
      flags: 0x1002,
      operState: 'down',
      parentIndex: 2,
      peerNetnsId: 0,
      macvlan: { mode: 'bridge' },
    });
  });

  it('decodes an onlink route', () => {
    // The kernel's answer to `ip -4 route show dev vx0`.
    const [msg] = parseMessages(
      hex(`
        3c000000 1800 2200 8bf0156b 79470000   // RTM_NEWROUTE, MULTI|DUMP_FILTERED
        02 18 00 00 fe 03 00 01 04000000       // rtm_flags RTNH_F_ONLINK
        0800 0f00 fe000000
        0800 0100 0af40200
        0800 0500 0af40200
        0800 0400 04000000
      `),
    );
    expect(parseRoute(msg!)).toEqual({
      family: 4,
      dst: '10.244.2.0/24',
      gateway: '10.244.2.0',
      dev: 4,
      scope: 'universe',
      table: 254,
      protocol: 'boot',
      type: 'unicast',
      onlink: true,
    });
  });

  it('decodes a neighbour dump: a permanent IPv4 entry and an IPv6 multicast one', () => {
    // The kernel's answer to `ip neigh show dev vx0`.
    const messages = parseMessages(
      hex(`
        4c000000 1c00 2200 81ef156b 04180000   // len 76, RTM_NEWNEIGH, MULTI|DUMP_FILTERED
        02 00 0000 04000000 8000 00 01         // AF_INET, ifindex 4, NUD_PERMANENT, flags 0, RTN_UNICAST
        0800 0100 0af40200                     // NDA_DST 10.244.2.0
        0a00 0200 020000000200 0000            // NDA_LLADDR
        0800 0400 00000000                     // NDA_PROBES, not read
        1400 0300 f0050000 f0050000 f0050000 00000000  // NDA_CACHEINFO, not read
        58000000 1c00 2200 81ef156b 04180000   // len 88
        0a 00 0000 04000000 4000 00 05         // AF_INET6, NUD_NOARP, RTN_MULTICAST
        1400 0100 ff020000 00000000 00000000 00000016  // NDA_DST ff02::16
        0a00 0200 333300000016 0000
        0800 0400 00000000
        1400 0300 711a0000 01030000 01030000 00000000
      `),
    );
    expect(messages.map((m) => parseNeighbour(m))).toEqual([
      { index: 4, family: 4, ip: '10.244.2.0', mac: '02:00:00:00:02:00', state: ['permanent'], flags: 0 },
      { index: 4, family: 6, ip: 'ff02::16', mac: '33:33:00:00:00:16', state: ['noarp'], flags: 0 },
    ]);
    expect(messages.map((m) => parseFdbEntry(m))).toEqual([undefined, undefined]);
  });

  it('decodes an FDB entry of a VXLAN device', () => {
    // The kernel's answer to `bridge fdb show dev vx0`.
    const [msg] = parseMessages(
      hex(`
        44000000 1c00 0200 7af0156b b2120000   // len 68, RTM_NEWNEIGH, MULTI
        07 00 0000 04000000 c000 02 01         // AF_BRIDGE, ifindex 4, NOARP|PERMANENT, NTF_SELF, RTN_UNICAST
        0a00 0200 020000000200 0000            // NDA_LLADDR
        0800 0100 c0a84d02                     // NDA_DST 192.168.77.2
        1400 0300 00000000 f6020000 f6020000 00000000  // NDA_CACHEINFO, not read
      `),
    );
    expect(parseFdbEntry(msg!)).toEqual({
      index: 4,
      mac: '02:00:00:00:02:00',
      dst: '192.168.77.2',
      state: ['noarp', 'permanent'],
      flags: 2,
    });
    expect(parseNeighbour(msg!)).toBeUndefined();
  });

  it('rejects messages and attributes that claim more bytes than there are', () => {
    expect(() => parseMessages(hex('20000000 1000 0000 01000000 00000000'))).toThrow(/EBADMSG.*claims 32 bytes/);
    const [msg] = parseMessages(
      hex(`
        28000000 1000 0000 01000000 00000000
        00 00 0000 01000000 00000000 00000000
        1000 0300 6c6f0000                     // an IFLA_IFNAME claiming 16 bytes in a message that has 8 left
      `),
    );
    expect(() => parseLink(msg!)).toThrow(/EBADMSG/);
  });

  it('sees NLM_F_DUMP_INTR in the header flags', () => {
    const [msg] = parseMessages(hex('14000000 0300 1200 01000000 00000000 00000000'));
    expect(msg!.flags & NLM_F_DUMP_INTR).toBeTruthy();
  });
});

describe('NlWriter', () => {
  it('clears the padding of a reused buffer', () => {
    const w = new NlWriter();
    w.begin(RTM_NEWLINK, 1, 1).ifinfomsg({ family: 0 }).str(3, 'abcdefghijklmno');
    w.begin(RTM_NEWLINK, 1, 2).ifinfomsg({ family: 0 }).str(3, 'a');
    expect(w.finish()).toEqual(
      hex(`
        28000000 1000 0100 02000000 00000000
        00 00 0000 00000000 00000000 00000000
        0600 0300 61 00 0000                   // "a\\0" and two zero bytes, not the old name's
      `),
    );
  });

  it('encodes u8, u16, u32, s32, flags and nests, with NLA_F_NESTED when asked', () => {
    const w = new NlWriter();
    w.begin(1, 0, 0);
    const outer = w.beginNest(9, true);
    w.u8(1, 0xab).u16(2, 0x1234).u32(3, 0xdeadbeef).s32(4, -2).flag(5);
    w.endNest(outer);
    expect(w.finish()).toEqual(
      hex(`
        38000000 0100 0000 00000000 00000000
        2800 0980                              // type 9 | NLA_F_NESTED, 40 bytes
          0500 0100 ab 000000
          0600 0200 3412 0000
          0800 0300 efbeadde
          0800 0400 feffffff
          0400 0500
      `),
    );
  });
});
