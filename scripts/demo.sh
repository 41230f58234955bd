#!/usr/bin/env bash
# Shows rkt at work: builds a busybox image, serves it from a registry on
# 127.0.0.1, and fetches, lists, inspects and renders it. Everything lives
# in a temporary directory that is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
rkt=$PWD/bin/rkt
work=$(mktemp -d /tmp/rkt-demo.XXXXXX)
port=${DEMO_PORT:-5055}
regpid=
cleanup() {
	[ -n "$regpid" ] && kill "$regpid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

echo "== building a busybox image from Debian's busybox-static"
scripts/mkbusybox.sh "$work/layout" latest
echo "== serving it from a registry on 127.0.0.1:$port"
regpid=$(scripts/registry.sh "$work/registry" "$port")
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:latest" "docker://127.0.0.1:$port/demo/busybox:latest"

R=("$rkt" --dir="$work/data" --insecure-options=image,http)
run "${R[@]}" fetch "docker://127.0.0.1:$port/demo/busybox:latest"
run "${R[@]}" fetch --pull-policy=new "docker://127.0.0.1:$port/demo/busybox:latest"
run "${R[@]}" image list
run "${R[@]}" image cat-manifest "127.0.0.1:$port/demo/busybox:latest"
run "${R[@]}" image render --rootfs-only "127.0.0.1:$port/demo/busybox:latest" "$work/rendered"
say "ls $work/rendered/bin | head -5"; ls "$work/rendered/bin" | head -5
run "${R[@]}" image verify "127.0.0.1:$port/demo/busybox:latest"

echo
echo "== running pods (rkt execs the stage1 in its own process: its exit code is the pod's)"
run "${R[@]}" run --net=host "127.0.0.1:$port/demo/busybox:latest" --exec=/bin/sh -- -c 'echo "hello from pod $(hostname), pid $$"; exit 3' || echo "(rkt run exited $?)"
uuid=$("${R[@]}" prepare --quiet "127.0.0.1:$port/demo/busybox:latest" --exec=/bin/true)
run "${R[@]}" run-prepared --net=none "$uuid"
echo
echo "== the default network: a namespace of its own, an address from 172.16.28.0/24, masqueraded"
run "${R[@]}" run "127.0.0.1:$port/demo/busybox:latest" --exec=/bin/sh -- -c 'ip -4 -o addr show eth0; ip route | head -1'
run "${R[@]}" list
run "${R[@]}" status "$uuid"
run "${R[@]}" gc --grace-period=0s
