#!/usr/bin/env bash
# Where the CPU of an rkt start goes: N starts of
#   rkt run --net=host IMG --exec=/bin/true
# of the busybox image under `perf record -a -g`, with unstripped builds of
# rkt and its stage1, then per process (rkt: stage0 until its exec; run:
# the stage1 run process; pod-init; true: the app) its CPU per start and
# the functions with the largest inclusive share of it. The method of the
# passes in bench/RESULTS.md. As root; needs perf (Debian's linux-perf) and
# Go. Environment: N (40), FREQ (perf's sampling rate, 10000 Hz), LIMIT
# (the smallest share printed, 5 %), PROFILE_DIR (/var/tmp/rkt-bench-profile:
# the builds, the data dir and perf.data, kept for `perf report -i`).
# perf's own overhead inflates the times by about half: compare shares,
# and use tools/abcpu for before-and-after CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

N=${N:-40}
FREQ=${FREQ:-10000}
LIMIT=${LIMIT:-5}
work=$(realpath -m "${PROFILE_DIR:-/var/tmp/rkt-bench-profile}")
[ "$(id -u)" -eq 0 ] || bench_die "needs root"
command -v perf >/dev/null || bench_die "perf is not installed (apt-get install linux-perf)"
export PATH=$PATH:/usr/local/go/bin GOTOOLCHAIN=local CGO_ENABLED=0
command -v go >/dev/null || bench_die "go is not installed"
[ -d bin/cni ] || bench_die "run make build first (bin/cni)"

say() { echo "profile: $*" >&2; }
data=$work/data
# The scratch directory is removed first: only one this script made
# (its marker file), never a directory PROFILE_DIR names by mistake.
marker=.rkt-bench-profile
if [ -e "$work" ] && [ ! -e "$work/$marker" ]; then
	bench_die "$work exists and is not a scratch directory of bench/profile.sh ($marker missing): give PROFILE_DIR a new path"
fi
# What an interrupted run left: its pods collected, then any mount under
# the scratch directory (rm would go through a bind mount into the store).
if [ -d "$data" ]; then "$work/bin/rkt" --dir="$data" gc --grace-period=0s >/dev/null 2>&1 || true; fi
umount_under "$work/"
rm -rf --one-file-system "$work"
mkdir -p "$work/bin"
touch "$work/$marker"

say "unstripped builds in $work/bin"
go build -trimpath -tags rktfront -o "$work/bin/rkt" ./cmd/rkt
go build -trimpath -o "$work/bin/rkt-full" ./cmd/rkt
go build -trimpath -o "$work/stage1-ns" ./cmd/stage1-ns
go build -trimpath -tags stage1light -o "$work/stage1-ns-run" ./cmd/stage1-ns
go run ./tools/mkstage1 -flavor ns -binary "$work/stage1-ns" -run-binary "$work/stage1-ns-run" \
	-plugins bin/cni -version profile -o "$work/bin/stage1-ns.aci"

rkt=$work/bin/rkt
img=$("$rkt" --dir="$data" --insecure-options=image fetch "oci:$(busybox_layout):latest" 2>"$work/fetch.err") ||
	bench_die "rkt fetch of the busybox image failed: $(tail -1 "$work/fetch.err")"
# Two starts outside the profile: the first imports the stage1 image.
for i in 1 2; do
	"$rkt" --dir="$data" run --net=host "$img" --exec=/bin/true 2>"$work/start.err" ||
		bench_die "rkt run failed: $(tail -1 "$work/start.err")"
done

say "$N starts under perf record -a -g -F $FREQ"
# shellcheck disable=SC2016 # the loop's variables are bash -c's arguments
perf record -q -a -g -F "$FREQ" -o "$work/perf.data" -- \
	bash -c 'for i in $(seq "$1"); do "$2" --dir="$3" run --net=host "$4" --exec=/bin/true || exit 1; done' \
	loop "$N" "$rkt" "$data" "$img" >/dev/null 2>"$work/perf.err" ||
	bench_die "the profiled starts failed: $(tail -1 "$work/perf.err")"

# perf reads the stage1 binaries' symbols from the paths they ran from,
# the pods' stage1/rootfs, which each pod unmounted as it exited: the
# rendered stage1 tree is mounted there again for the report.
tree=$(find "$data/store/layers" -maxdepth 4 -path '*/rootfs/rootfs/pod-init' | head -1)
[ -n "$tree" ] || bench_die "no rendered stage1 tree in $data/store"
tree=$(dirname "$tree")
remounted=()
unmount_pods() {
	local m
	for m in "${remounted[@]}"; do umount "$m" || true; done
	remounted=()
}
trap unmount_pods EXIT
for p in "$data"/pods/run/*/; do
	mount --bind "$tree" "${p}stage1/rootfs" && remounted+=("${p}stage1/rootfs")
done
# inclusive COMM: per function, the CPU per start of the samples of COMM
# whose call chain holds it (each sample once per function), largest
# first, down to LIMIT % of COMM's samples.
inclusive() {
	perf script -i "$work/perf.data" --comms "$1" -F comm,ip,sym 2>/dev/null |
		awk -v f="$FREQ" -v n="$N" -v limit="$LIMIT" '
		function flush(  k) { if (!insample) return; total++; for (k in seen) count[k]++; delete seen; insample = 0 }
		/^[^ \t]/ { flush(); insample = 1; next }
		NF >= 2 { seen[$2] = 1; next }
		END {
			flush()
			for (k in count) if (count[k] * 100 >= limit * total) printf "%7.3f ms %5.1f%%  %s\n", count[k] / f / n * 1000, count[k] * 100 / total, k
		}' | sort -rn
}
echo "# CPU per start, by process (perf-inflated; $N starts)"
echo
perf report -i "$work/perf.data" --stdio -n -g none --sort comm 2>/dev/null |
	awk -v f="$FREQ" -v n="$N" '$4 ~ /^(rkt|run|pod-init|true)$/ {printf "%-9s %6.2f ms\n", $4, $3 / f / n * 1000}'
for c in rkt run pod-init; do
	echo
	echo "# $c: functions on the call chain of at least $LIMIT % of its samples"
	echo
	inclusive "$c"
done
unmount_pods
"$rkt" --dir="$data" gc --grace-period=0s >/dev/null 2>&1 || true
say "perf.data kept in $work (perf report -i $work/perf.data)"
