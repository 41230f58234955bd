#!/usr/bin/env bash
# Pod start benchmark: rkt run against crun run, bwrap and podman run of the
# same busybox rootfs, alternated in one run, without networking and with
# each tool's default network (rkt-net, podman-net); then the memory of
# rkt's non-app processes and 50 pods 10 at a time. As root, after make
# build.
#   bench/run.sh              RUNS=30 by default
#   RUNS=10 PODMAN=0 bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
runs=${RUNS:-30}
use_podman=${PODMAN:-1}
rkt=$root/bin/rkt
[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root" >&2; exit 1; }
if [ ! -x "$rkt" ] || [ ! -f "$root/bin/stage1-ns.aci" ]; then echo "run.sh: run make build first" >&2; exit 1; fi
scripts/install-deps.sh bench

cache=$root/bench/.cache
# A lower-case path: podman names an oci: image after its path.
work=/var/tmp/rkt-bench-run-$$
rm -rf "$work"
mkdir -p "$work"
data=$work/data
layout=$cache/busybox-oci
mkdir -p "$cache"
[ -f "$layout/index.json" ] || scripts/mkbusybox.sh "$layout" latest >/dev/null

hugetlb_mounted=0
podman_env=()
cleanup() {
	set +e
	[ ${#podman_env[@]} -gt 0 ] && env "${podman_env[@]}" podman rm -af >/dev/null 2>&1
	"$rkt" --dir="$data" gc --grace-period=0s --expire-prepared=0s >/dev/null 2>&1
	grep -F "$work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
	[ "$hugetlb_mounted" = 1 ] && revert_hugetlb
	rm -rf "$work"
}
trap cleanup EXIT

# crun refuses a hybrid layout where cgroup2 still owns a controller
# (hugetlb here): bind hugetlb to a v1 hierarchy for the run, and give it
# back afterwards (peers.md: children must be gone first, else the
# hierarchy lives on unmounted and hugetlb never returns to cgroup2).
fix_hugetlb() {
	if [ -f /sys/fs/cgroup/unified/cgroup.controllers ] && grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers; then
		mkdir -p /sys/fs/cgroup/hugetlb
		mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
		hugetlb_mounted=1
	fi
}
revert_hugetlb() {
	local h=/sys/fs/cgroup/hugetlb i
	find "$h" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
	umount "$h" || umount -l "$h"
	# The hierarchy is destroyed asynchronously once unmounted and empty.
	# Wait for it: mounting again would create a new hierarchy each time
	# and keep hugetlb away from cgroup2. Only after 30 s, mount once,
	# remove dying children that are still there, and unmount again.
	for i in $(seq 240); do
		grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers && break
		if [ "$i" = 120 ] && mount -t cgroup -o hugetlb cgroup "$h" 2>/dev/null; then
			find "$h" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
			umount "$h"
		fi
		sleep 0.25
	done
	rmdir "$h" 2>/dev/null || true
	if grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers; then
		echo "hugetlb is back on cgroup2"
	else
		echo "WARNING: hugetlb did not return to cgroup2" >&2
	fi
	hugetlb_mounted=0
}
fix_hugetlb

# The stored image for rkt.
img=$("$rkt" --dir="$data" --insecure-options=image fetch "oci:$layout:latest" 2>/dev/null)
# An OCI bundle of the same image for crun, and its rootfs for bwrap.
bundle=$work/bundle
umoci unpack --image "$layout:latest" "$bundle" >/dev/null
(cd "$bundle" && rm -f config.json && crun spec)
jq '.process.args = ["/bin/true"] | .process.terminal = false' "$bundle/config.json" >"$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"
rootfs=$bundle/rootfs

tools=(rkt rkt-net crun bwrap)
if [ "$use_podman" = 1 ]; then
	pm=$work/podman
	mkdir -p "$pm/root" "$pm/runroot"
	cat >"$pm/containers.conf" <<-EOF
		[containers]
		default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
		[engine]
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		runtime = "crun"
	EOF
	cat >"$pm/storage.conf" <<-EOF
		[storage]
		driver = "overlay"
		graphroot = "$pm/root"
		runroot = "$pm/runroot"
	EOF
	printf 'unqualified-search-registries = []\n' >"$pm/registries.conf"
	podman_env=(CONTAINERS_CONF="$pm/containers.conf" CONTAINERS_STORAGE_CONF="$pm/storage.conf" CONTAINERS_REGISTRIES_CONF="$pm/registries.conf")
	cp -r "$layout" "$work/bb"
	if env "${podman_env[@]}" podman pull -q "oci:$work/bb:latest" >/dev/null &&
		env "${podman_env[@]}" podman tag "$(env "${podman_env[@]}" podman images -q | head -1)" localhost/bb:latest &&
		env "${podman_env[@]}" podman run --rm --network=none localhost/bb:latest /bin/true; then
		tools+=(podman)
		if env "${podman_env[@]}" podman run --rm localhost/bb:latest /bin/true; then
			tools+=(podman-net)
		else
			echo "podman: its default network does not work here; podman-net left out" >&2
		fi
	else
		echo "podman: could not run a container here; left out" >&2
	fi
fi

run_tool() {
	case $1 in
	rkt) "$rkt" --dir="$data" run --net=host "$img" --exec=/bin/true ;;
	rkt-net) "$rkt" --dir="$data" run "$img" --exec=/bin/true ;;
	crun) crun run --bundle "$bundle" "bench-$$-$2" ;;
	bwrap) bwrap --unshare-all --bind "$rootfs" / --proc /proc --dev /dev /bin/true ;;
	podman) env "${podman_env[@]}" podman run --rm --network=none localhost/bb:latest /bin/true ;;
	podman-net) env "${podman_env[@]}" podman run --rm localhost/bb:latest /bin/true ;;
	esac
}

# Warm up, then alternate the tools run by run.
for t in "${tools[@]}"; do run_tool "$t" warm >/dev/null; done
declare -A times
for i in $(seq "$runs"); do
	for t in "${tools[@]}"; do
		t0=$EPOCHREALTIME
		run_tool "$t" "$i" >/dev/null
		t1=$EPOCHREALTIME
		times[$t]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)*1000}') "
	done
	"$rkt" --dir="$data" gc --grace-period=0s >/dev/null 2>&1
done

stats() { # prints median min max of the numbers given
	printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.1f %.1f %.1f", m, v[1], v[NR]}'
}
echo
echo "Start to exit, $runs runs each, alternated ($(nproc) CPUs, $(uname -r))"
printf '| %-10s | %9s | %7s | %7s | %7s |\n' tool "median ms" "min ms" "max ms" "x crun"
printf '| --- | --- | --- | --- | --- |\n'
# shellcheck disable=SC2086 # the times are a space-separated list
read -r crun_med _ _ <<<"$(stats ${times[crun]})"
for t in "${tools[@]}"; do
	# shellcheck disable=SC2086 # the times are a space-separated list
	read -r med min max <<<"$(stats ${times[$t]})"
	printf '| %-10s | %9s | %7s | %7s | %7s |\n' "$t" "$med" "$min" "$max" "$(awk -v a="$med" -v b="$crun_med" 'BEGIN{printf "%.2f", a/b}')"
done
# shellcheck disable=SC2086 # the times are a space-separated list
read -r rkt_med _ _ <<<"$(stats ${times[rkt]})"
# shellcheck disable=SC2086
read -r rktnet_med _ _ <<<"$(stats ${times[rkt-net]})"
echo
echo "default network: rkt adds $(awk -v a="$rktnet_med" -v b="$rkt_med" 'BEGIN{printf "%.1f", a-b}') ms over --net=host"
if [ -n "${times[podman-net]:-}" ]; then
	# shellcheck disable=SC2086
	read -r podnet_med _ _ <<<"$(stats ${times[podman-net]})"
	echo "default network: rkt ${rktnet_med} ms, podman ${podnet_med} ms: $(awk -v a="$rktnet_med" -v b="$podnet_med" 'BEGIN{printf "%.3f", a/b}') x podman (target: at most 0.25)"
fi

# (a) Resident memory of rkt's own processes while the app sleeps: the
# stage1 run process (rkt run after its exec) and pod init, both the
# stage1-ns binary from the pod's stage1 tree.
"$rkt" --dir="$data" run --net=host "$img" --exec=/bin/sleep -- 30 &
runpid=$!
for _ in $(seq 100); do
	[ -n "$(ls "$data"/pods/run/*/stage1/rkt/supervisor-status 2>/dev/null)" ] && break
	sleep 0.05
done
sleep 0.3
# VmRSS counts the stage1 binary's text in each process; Pss shares it
# between them, so the Pss sum is the memory the pod really holds.
total=0
total_pss=0
for p in /proc/[0-9]*; do
	exe=$(readlink "$p/exe" 2>/dev/null) || continue
	case $exe in
	"$data"/pods/*)
		rss=$(awk '/^VmRSS/{print $2}' "$p/status")
		pss=$(awk '/^Pss:/{print $2}' "$p/smaps_rollup")
		echo "  ${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" | cut -c1-60): VmRSS ${rss} KiB, Pss ${pss} KiB"
		total=$((total + rss))
		total_pss=$((total_pss + pss))
		;;
	esac
done
echo "(a) resident memory of the non-app processes of a sleeping pod: Pss $total_pss KiB (VmRSS $total KiB)"
kill -TERM "$runpid"
wait "$runpid" 2>/dev/null || true
"$rkt" --dir="$data" gc --grace-period=0s >/dev/null 2>&1

# (b) 50 pods, 10 at a time.
export rkt data img bundle
t0=$EPOCHREALTIME
seq 50 | xargs -P10 -I{} "$rkt" --dir="$data" run --net=host "$img" --exec=/bin/true
t1=$EPOCHREALTIME
rkt50=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
t0=$EPOCHREALTIME
seq 50 | xargs -P10 -I{} crun run --bundle "$bundle" "conc-$$-{}"
t1=$EPOCHREALTIME
crun50=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
echo "(b) 50 pods, 10 at a time: rkt ${rkt50} s, crun ${crun50} s"
