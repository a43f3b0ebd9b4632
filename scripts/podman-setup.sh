#!/usr/bin/env bash
# Makes rootful podman 4.3 (Debian 12) run CNI plugins on a machine without
# systemd, for berth's podman test, and leaves the machine's podman settings
# alone: it writes a containers.conf of its own to FILE, which podman reads
# instead of /etc/containers/containers.conf when CONTAINERS_CONF=FILE is set.
# It also imports a local busybox image (from busybox-static, no registry) and
# runs one container with FILE to prove the set-up. Installs podman, runc and
# busybox-static when missing. Run as root; safe to run again.
#
# Usage: scripts/podman-setup.sh --conf FILE [--net-dir DIR] [--plugin-dir DIR]...
#   --conf FILE       the containers.conf to write (never one this script did not write)
#   --net-dir DIR     where podman keeps its CNI conflists (default /etc/cni/net.d)
#   --plugin-dir DIR  where podman looks for CNI plugins, in order; repeatable
#                     (default /opt/cni/bin, then /usr/lib/cni)
# Then: CONTAINERS_CONF=FILE podman run --network NET localhost/berth-busybox httpd -f -p 8080 -h /www
set -euo pipefail

IMAGE=localhost/berth-busybox:latest
MARK='# written by berth scripts/podman-setup.sh'

conf=''
net_dir=/etc/cni/net.d
plugin_dirs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --conf) conf=${2:?--conf needs a FILE}; shift 2 ;;
    --net-dir) net_dir=${2:?--net-dir needs a DIR}; shift 2 ;;
    --plugin-dir) plugin_dirs+=("${2:?--plugin-dir needs a DIR}"); shift 2 ;;
    *) echo "podman-setup: unknown argument '$1'; usage: $0 --conf FILE [--net-dir DIR] [--plugin-dir DIR]..." >&2; exit 2 ;;
  esac
done
if [ -z "$conf" ]; then
  echo "podman-setup: give the containers.conf to write with --conf FILE (then run podman with CONTAINERS_CONF=FILE)" >&2
  exit 2
fi
[ ${#plugin_dirs[@]} -gt 0 ] || plugin_dirs=(/opt/cni/bin /usr/lib/cni)
if [ -e "$conf" ] && ! grep -qxF "$MARK" "$conf"; then
  echo "podman-setup: $conf exists and was not written by this script; give another --conf FILE" >&2
  exit 1
fi

missing=()
for pkg in podman runc busybox-static; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "podman-setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# podman asks the runtime for nofile and nproc limits of 1048576 and more in every container;
# root without CAP_SYS_RESOURCE cannot raise a hard limit, so runc would fail with "setrlimit:
# operation not permitted". The container gets the hard limits podman itself runs with: this
# shell's, except nproc, which podman 4.3 lowers to 32768 for itself as it starts (seen in
# /proc/PID/limits of podman and conmon).
hard_limit() {
  local limit
  limit=$(ulimit -H "$1")
  if [ "$limit" = unlimited ] || [ "$limit" -gt "$2" ]; then limit=$2; fi
  echo "$limit"
}
nofile=$(hard_limit -n 1048576)
nproc=$(hard_limit -u 32768)
# Without systemd, podman must manage cgroups itself and log events to a file.
# runc, not crun: crun 1.8 refuses the hybrid cgroup v1/v2 layout these machines have.
if [ -d /run/systemd/system ]; then
  cgroup_manager=systemd events_logger=journald
else
  cgroup_manager=cgroupfs events_logger=file
fi
toml_list() {
  local out='' item
  for item in "$@"; do out+="${out:+, }\"$item\""; done
  echo "[$out]"
}

mkdir -p "$(dirname "$conf")" "$net_dir"
cat >"$conf.tmp" <<CONF
$MARK
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "$cgroup_manager"
events_logger = "$events_logger"

[network]
network_backend = "cni"
network_config_dir = "$net_dir"
cni_plugin_dirs = $(toml_list "${plugin_dirs[@]}")
CONF
mv "$conf.tmp" "$conf"
export CONTAINERS_CONF=$conf

if ! podman image exists "$IMAGE"; then
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$rootfs"/{bin,dev,etc,proc,sys,tmp,www}
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
  done
  echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"
  echo 'root:x:0:' >"$rootfs/etc/group"
  echo 'served by berth-busybox' >"$rootfs/www/index.html"
  tar -C "$rootfs" -cf - . |
    podman import --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null
fi

podman run --rm --network none "$IMAGE" true
echo "podman-setup: $(podman --version), runc, $cgroup_manager cgroups, CNI conflists in $net_dir," \
  "plugins from ${plugin_dirs[*]}; use CONTAINERS_CONF=$conf"
