#!/usr/bin/env bash
# rkt list, status and gc with many pods: creates PODS (default 1000) exited
# pods in a fresh data directory by running them for real (rkt run
# --exec=/bin/true through xargs -P4, so each is exactly what rkt leaves:
# state in run/, the read-only stage1 bind still mounted), then times
# rkt list (median of 10), rkt status UUID (median of 10) and one
# rkt gc --grace-period=0s of them all. As root, after make build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
pods=${PODS:-1000}
rkt=$root/bin/rkt
[ "$(id -u)" -eq 0 ] || { echo "podscale.sh: needs root" >&2; exit 1; }
if [ ! -x "$rkt" ] || [ ! -f "$root/bin/stage1-ns.aci" ]; then echo "podscale.sh: run make build first" >&2; exit 1; fi
scripts/install-deps.sh bench

cache=$root/bench/.cache
layout=$cache/busybox-oci
mkdir -p "$cache"
[ -f "$layout/index.json" ] || scripts/mkbusybox.sh "$layout" latest >/dev/null
work=$(mktemp -d /var/tmp/rkt-podscale.XXXXXX)
data=$work/data
cleanup() {
	set +e
	"$rkt" --dir="$data" gc --grace-period=0s --expire-prepared=0s >/dev/null 2>&1
	grep -F "$work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

img=$("$rkt" --dir="$data" --insecure-options=image fetch "oci:$layout:latest" 2>/dev/null)
t0=$EPOCHREALTIME
seq "$pods" | xargs -P4 -I{} "$rkt" --dir="$data" run --net=host "$img" --exec=/bin/true
t1=$EPOCHREALTIME
n=$(find "$data/pods/run" -mindepth 1 -maxdepth 1 | wc -l)
echo "created $n exited pods in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s (rkt run, 4 at a time)"
uuid=$(find "$data/pods/run" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | sed -n "$((n / 2))p")

ms() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", (b-a)*1000}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.1f (min %.1f, max %.1f)", m, v[1], v[NR]}'; }
timeit() { # runs the command 10 times, prints the median ms
	local out=() a b
	"$@" >/dev/null
	for _ in $(seq 10); do
		a=$EPOCHREALTIME
		"$@" >/dev/null
		b=$EPOCHREALTIME
		out+=("$(ms "$a" "$b")")
	done
	median "${out[@]}"
}
echo "rkt list ($n pods): $(timeit "$rkt" --dir="$data" list) ms"
echo "rkt list --format=json ($n pods): $(timeit "$rkt" --dir="$data" list --format=json) ms"
echo "rkt status $uuid: $(timeit "$rkt" --dir="$data" status "$uuid") ms"
a=$EPOCHREALTIME
"$rkt" --dir="$data" gc --grace-period=0s >/dev/null 2>&1
b=$EPOCHREALTIME
left=$(find "$data/pods" -mindepth 2 -maxdepth 2 | wc -l)
echo "rkt gc --grace-period=0s of $n exited pods: $(ms "$a" "$b") ms ($left pod directories left)"
