#!/usr/bin/env bash
# Prepares a Debian machine for berth, as root: the kernel-side tools the tests
# and the firewall drivers use (and etcd, which the overlay tests start on a LAN of
# namespaces), the npm packages, the native binding and the bundles.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in ip:iproute2 nft:nftables iptables-restore:iptables conntrack:conntrack ping:iputils-ping \
  iperf3:iperf3 socat:socat curl:curl make:make cc:gcc g++:g++ python3:python3 etcd:etcd-server; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
# The reference plugins, to test berth next to them and chained with them.
[ -x /usr/lib/cni/portmap ] || need+=(containernetworking-plugins)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v node >/dev/null 2>&1; then
  echo "setup: berth needs Node.js 20 or newer on PATH" >&2
  exit 1
fi
npm ci --no-audit --no-fund
npm run build
