#!/usr/bin/env bash
# Builds test/tools/cnitool, the libcni client the tests run conflists through,
# into OUTPUT. Offline, from Debian's packages: golang-go, and
# golang-github-appc-cni-dev, which puts libcni's source under /usr/share/gocode
# (a GOPATH, so the build needs no module download). Installs both when missing.
# Usage: scripts/build-cnitool.sh OUTPUT
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTPUT" >&2
  exit 2
fi
out=$1
source_dir="$(cd "$(dirname "$0")/.." && pwd)/test/tools/cnitool"
gopath=/usr/share/gocode

if ! command -v go >/dev/null 2>&1 || [ ! -d "$gopath/src/github.com/containernetworking/cni/libcni" ]; then
  echo "build-cnitool: installing golang-go and golang-github-appc-cni-dev" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends golang-go golang-github-appc-cni-dev >/dev/null
fi

# GOPATH mode reads libcni where Debian put it; a static binary runs inside any netns wrapper.
export GO111MODULE=off GOPATH="$gopath" GOFLAGS= CGO_ENABLED=0
# Go's build cache: the caller's GOCACHE, else Go's default under $HOME, else a temp dir
# (Go refuses to build with none, as under a service manager without HOME).
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
  export GOCACHE="${TMPDIR:-/tmp}/berth-go-build"
fi
go build -trimpath -o "$out" "$source_dir/main.go"
