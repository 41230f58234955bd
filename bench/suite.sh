#!/usr/bin/env bash
# make bench: rkt against the peer runtimes on this machine, in one run,
# printed as one markdown table (also written to BENCH_OUT), followed by the
# targets and the machine. As root, after make build. Workloads:
#   1  start to exit of /bin/true from a stored image: (1a) no network,
#      (1b) each tool's default network; each tool's starts in blocks
#      back to back, the blocks alternated, the host quiet before each;
#      (1c) no network, each start alone on a quiet host
#   2  50 containers, PAR_50 (10) at a time (seq 50 | xargs -P10), whole
#      batch
#   3  fetch into an empty store, page cache dropped: busybox and Debian
#   4  memory of everything that is not the app (Pss over all processes):
#      (4a) one sleeping container, (4b) per extra container with 20
#   5  rkt list, status and gc with PODS exited pods (rkt only)
#   6  CPU time per start, system-wide (/proc/stat), daemons included
# Environment (defaults): WORKLOADS ("1 2 3 4 6 5", run in that order: 5
# creates and removes PODS pods, about 40 inodes each, and on an ext4
# without a journal every inode created in the next minutes inspects them,
# which would weigh on any rkt workload after it), RUNS (20), BLOCK_1 (5:
# workload 1's starts of one tool back to back), COLD_RUNS (10: 1c's
# starts of each tool, each on a quiet host), ROUNDS_50
# (3), PAR_50 (10: how many of workload 2's containers at a time; its
# target is for 10, and other values show how the ratio follows the
# host's CPUs), FETCH_RUNS (5), PODS (1000), MEM_REPS (3), CPU_RUNS (20), CPU_REPS
# (3), SKIP_TOOLS (tools to leave out, e.g. "docker podman"), PORT (5077,
# the first port tried for the registry), BENCH_OUT
# (bench/.cache/suite-latest.md), BENCH_CACHE (bench/.cache).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

WORKLOADS=${WORKLOADS:-1 2 3 4 6 5}
RUNS=${RUNS:-20}
BLOCK_1=${BLOCK_1:-5}
COLD_RUNS=${COLD_RUNS:-10}
ROUNDS_50=${ROUNDS_50:-3}
PAR_50=${PAR_50:-10}
for v in RUNS BLOCK_1 COLD_RUNS PAR_50; do
	case ${!v} in '' | *[!0-9]* | 0*) echo "suite: $v=${!v}: want a whole number from 1" >&2; exit 2 ;; esac
done
FETCH_RUNS=${FETCH_RUNS:-5}
PODS=${PODS:-1000}
MEM_REPS=${MEM_REPS:-3}
CPU_RUNS=${CPU_RUNS:-20}
CPU_REPS=${CPU_REPS:-3}
SKIP_TOOLS=${SKIP_TOOLS:-}
PORT=${PORT:-5077}
out=${BENCH_OUT:-$cache/suite-latest.md}

bench_require
say() { echo "suite: $*" >&2; }
wants() { [[ " $WORKLOADS " == *" $1 "* ]]; }
started=$EPOCHREALTIME
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

"$bench_root/scripts/install-deps.sh" bench ||
	say "some packages did not install or configure (a service start without systemd?); missing tools are left out"

# A lower-case path: podman names an oci: image after its path.
work=/var/tmp/rkt-bench-suite-$$
rm -rf "$work"
mkdir -p "$work"
data=$work/data
# The floor of rkt's process shape (tools/gochain): three empty Go programs
# chained as stage0, the stage1 run entrypoint and pod init are.
gochain=$work/gochain
(cd "$bench_root" && PATH=$PATH:/usr/local/go/bin CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -ldflags "-s -w" -o "$gochain" ./tools/gochain) 2>"$work/gochain.err" ||
	say "tools/gochain did not build: $(tail -1 "$work/gochain.err")"

# Tools: ok[t]=1 while t can run; leave_out says why one cannot.
declare -A ok=() label=()
leave_out() {
	[ -z "${ok[$1]:-}" ] || say "$1 left out: $2"
	ok[$1]=
}

# The apps: busybox's sleep 3600, whatever tool started it.
app_pids() {
	local p c
	for p in /proc/[0-9]*; do
		{ read -r c <"$p/comm"; } 2>/dev/null || continue
		[ "$c" = sleep ] || continue
		[[ $(readlink "$p/exe" 2>/dev/null) == */busybox ]] || continue
		[ "$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" = "/bin/sleep 3600 " ] || continue
		echo "${p#/proc/}"
	done
}
# bg: the background jobs (workload 4's sleepers) that cleanup waits for.
bg=()
cleanup() {
	# Not to be cut short: an interrupted revert leaves hugetlb off cgroup2.
	trap '' INT TERM
	set +e
	local p
	for p in $(app_pids); do kill -KILL "$p" 2>/dev/null; done
	if [ ${#podman_env[@]} -gt 0 ]; then pm rm -af -t 0 >/dev/null 2>&1; fi
	if "$docker" info >/dev/null 2>&1 && [ -n "${ref_bb:-}" ]; then
		"$docker" ps -aq --filter "ancestor=$ref_bb" | xargs -r "$docker" rm -f >/dev/null 2>&1
		"$docker" rmi -f "$ref_bb" ${ref_deb:+"$ref_deb"} >/dev/null 2>&1
	fi
	for rt in crun runc; do
		command -v "$rt" >/dev/null || continue
		"$rt" list 2>/dev/null | awk -v p="b$$-" 'index($1, p) == 1 {print $1}' | xargs -r -n1 "$rt" delete -f 2>/dev/null
	done
	[ ${#bg[@]} -eq 0 ] || wait "${bg[@]}" 2>/dev/null
	docker_stop
	for d in "$data" "$work/pods" "$work/run"; do
		[ -d "$d" ] && "$rkt" --dir="$d" gc --grace-period=0s --expire-prepared=0s >/dev/null 2>&1
	done
	registry_stop
	umount_under "$work"
	[ "$hugetlb_mounted" = 1 ] && revert_hugetlb
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- setup

needs_runtimes=0
for w in 1 2 4 6; do wants $w && needs_runtimes=1; done

say "images and the loopback registry"
bb_layout=$(busybox_layout)
deb_layout=
wants 3 && deb_layout=$(debian_layout)
registry_start "$work/registry" "$PORT"
ref_bb=$(registry_push "$bb_layout" busybox)
ref_deb=
[ -z "$deb_layout" ] || ref_deb=$(registry_push "$deb_layout" debian)

# The stored image for rkt.
img=$("$rkt" --dir="$data" --insecure-options=image,http fetch "docker://$ref_bb" 2>"$work/fetch.err") ||
	bench_die "rkt fetch failed: $(tail -1 "$work/fetch.err")"

label=(
	[rkt]="rkt run --net=host"
	[crun]="crun run"
	[runc]="runc run"
	[nspawn]="systemd-nspawn --private-network"
	[podman]="podman run --rm --network=none"
	[docker]="docker run --rm --network=none"
	[bwrap]="bwrap --unshare-all (floor)"
	[gochain]="three chained empty Go programs, rkt's process shape (floor)"
	[rkt-net]="rkt run (default CNI network)"
	[podman-net]="podman run --rm (default network)"
	[docker-net]="docker run --rm (default bridge)"
	[nspawn-net]="systemd-nspawn (host network: its default)"
)
tools_1a=(rkt crun runc nspawn podman docker bwrap gochain)
tools_1b=(rkt-net podman-net docker-net nspawn-net)
for t in "${tools_1a[@]}" "${tools_1b[@]}"; do ok[$t]=1; done
for t in $SKIP_TOOLS; do
	leave_out "$t" "in SKIP_TOOLS"
	leave_out "$t-net" "$t is in SKIP_TOOLS"
done
is_1b() { [[ " ${tools_1b[*]} " == *" $1 "* ]]; }
bin_of() {
	case $1 in
	nspawn*) echo systemd-nspawn ;;
	docker*) echo dockerd ;;
	gochain) echo "$gochain" ;;
	*) echo "${1%-net}" ;;
	esac
}
for t in "${tools_1a[@]:1}" "${tools_1b[@]:1}"; do
	command -v "$(bin_of "$t")" >/dev/null || leave_out "$t" "$(bin_of "$t") is not installed"
done

# docker: dockerd is started here if it is not running, and stopped at exit.
if { [ "$needs_runtimes" = 1 ] || wants 3; } && { [ -n "${ok[docker]}" ] || [ -n "${ok[docker-net]}" ]; }; then
	say "docker"
	if docker_start "$work" && "$docker" pull -q "$ref_bb" >/dev/null 2>"$work/docker.err"; then
		docker_root=$("$docker" info -f '{{.DockerRootDir}}')
	else
		leave_out docker "dockerd did not start or could not pull from $registry: $(tail -1 "$work/docker.err" 2>/dev/null)"
		leave_out docker-net "dockerd did not start"
	fi
fi
# podman, in a store and configuration of its own.
if { [ "$needs_runtimes" = 1 ] || wants 3; } && { [ -n "${ok[podman]}" ] || [ -n "${ok[podman-net]}" ]; }; then
	podman_config "$work/podman" "$registry"
	# Exported, so that a timed podman is not started through env.
	export "${podman_env[@]}"
	if ! pm pull -q "$ref_bb" >/dev/null 2>"$work/podman.err"; then
		leave_out podman "podman pull failed: $(tail -1 "$work/podman.err")"
		leave_out podman-net "podman pull failed"
	fi
fi

if [ "$needs_runtimes" = 1 ]; then
	say "bundles and hugetlb"
	fix_hugetlb
	# The busybox rootfs for bwrap and, as read-only root, for the OCI
	# bundles of crun and runc (each with its own spec: args /bin/true or
	# /bin/sleep 3600, terminal false).
	umoci unpack --image "$bb_layout:latest" "$work/bb" >/dev/null
	rootfs=$work/bb/rootfs
	for rt in crun runc; do
		[ -n "${ok[$rt]}" ] || continue
		for app in true sleep; do
			b=$work/bundles/$rt-$app
			mkdir -p "$b"
			(cd "$b" && "$rt" spec)
			args='["/bin/true"]'
			[ $app = true ] || args='["/bin/sleep", "3600"]'
			jq --arg root "$rootfs" --argjson args "$args" \
				'.root.path = $root | .process.args = $args | .process.terminal = false' \
				"$b/config.json" >"$b/config.json.new"
			mv "$b/config.json.new" "$b/config.json"
		done
	done
fi
# nspawn locks its tree: containers that run at the same time get copies
# (hard links) of the rootfs, slot 0 for one at a time.
ns_slots() {
	local i
	for i in $(seq 0 "$1"); do
		[ -d "$work/ns/$i" ] || { mkdir -p "$work/ns" && cp -al "$rootfs" "$work/ns/$i"; }
	done
}

# argv TOOL ID APP [SLOT]: the command line of one start of TOOL in A, for
# APP true (/bin/true, to exit) or sleep (/bin/sleep 3600, in the
# background); ID names the container where a tool needs a unique name,
# SLOT is the nspawn tree.
A=()
argv() {
	local t=$1 id=$2 app=$3 slot=${4:-0} cmd=(/bin/true) detach=()
	if [ "$app" = sleep ]; then
		cmd=(/bin/sleep 3600)
		detach=(-d)
	fi
	case $t in
	rkt) A=("$rkt" --dir="$data" run --net=host "$img" --exec="${cmd[0]}") ;;
	rkt-net) A=("$rkt" --dir="$data" run "$img" --exec="${cmd[0]}") ;;
	crun | runc) A=("$t" run --bundle "$work/bundles/$t-$app" "b$$-$id") ;;
	nspawn) A=(systemd-nspawn -D "$work/ns/$slot" --quiet --register=no --keep-unit --private-network "${cmd[@]}") ;;
	nspawn-net) A=(systemd-nspawn -D "$work/ns/$slot" --quiet --register=no --keep-unit "${cmd[@]}") ;;
	bwrap) A=(bwrap --unshare-all --bind "$rootfs" / --proc /proc --dev /dev "${cmd[@]}") ;;
	gochain) A=("$gochain" "$rootfs" "${cmd[@]}") ;;
	podman) A=(podman run "${detach[@]}" --rm --network=none "$ref_bb" "${cmd[@]}") ;;
	podman-net) A=(podman run "${detach[@]}" --rm "$ref_bb" "${cmd[@]}") ;;
	docker) A=("$docker" run "${detach[@]}" --rm --network=none "$ref_bb" "${cmd[@]}") ;;
	docker-net) A=("$docker" run "${detach[@]}" --rm "$ref_bb" "${cmd[@]}") ;;
	esac
	if [ "$app" = sleep ] && [[ $t == rkt* ]]; then A+=(-- 3600); fi
}

# start TOOL ID: one start of /bin/true; on failure, the last line of its
# stderr is in $work/err.
start() {
	argv "$1" "$2" true
	"${A[@]}" </dev/null >/dev/null 2>"$work/err"
}
rkt_gc() {
	"$rkt" --dir="$data" gc --grace-period=0s >/dev/null 2>&1 || true
}
# usable TOOL...: those of the tools that can run.
usable() {
	local t
	for t in "$@"; do [ -z "${ok[$t]:-}" ] || echo "$t"; done
}

if [ "$needs_runtimes" = 1 ]; then
	ns_slots 0
	say "one start of each tool"
	for t in $(usable "${tools_1a[@]}" "${tools_1b[@]}"); do
		start "$t" probe || leave_out "$t" "a start of /bin/true failed: $(tail -1 "$work/err")"
	done
	rkt_gc
fi

# ---------------------------------------------------------------- results
# One row per tool and workload: group, tool, kind (rkt, peer or floor),
# median, min, max, unit.
rows=()
declare -A group_title=(
	[1a]="1a start→exit, no network"
	[1b]="1b start→exit, default network"
	[1c]="1c start→exit, no network, one start on a quiet host"
	[2]="2 50 containers, $PAR_50 at a time"
	[3a]="3a fetch busybox"
	[3b]="3b fetch Debian minbase"
	[4a]="4a non-app memory, 1 sleeping (no kernel memory)"
	[4b]="4b non-app memory per extra, 20 sleeping (no kernel memory)"
	[5a]="5a list, $PODS exited pods"
	[5b]="5b status, $PODS exited pods"
	[5c]="5c gc of $PODS exited pods"
	[6a]="6a CPU per start, no network"
	[6b]="6b CPU per start, default network"
)
group_order=(1a 1b 1c 2 3a 3b 4a 4b 5a 5b 5c 6a 6b)
declare -A median_of=()
# add_row GROUP TOOL KIND UNIT LABEL VALUE...
add_row() {
	local g=$1 t=$2 kind=$3 unit=$4 lbl=$5 med mn mx
	shift 5
	[ $# -gt 0 ] || return 0
	read -r med mn mx <<<"$(stats "$@")"
	rows+=("$g|$t|$kind|$med|$mn|$mx|$unit|$lbl")
	median_of[$g/$t]=$med
}
kind_of() {
	case $1 in
	rkt*) echo rkt ;;
	bwrap | tar | gochain) echo floor ;;
	*) echo peer ;;
	esac
}
declare -A times=() dead=()
# network_rows W GA GB TOOL...: one row (ms) for each tool's times of
# workload W, in group GA (no network) or GB (the tool's default network).
network_rows() {
	local w=$1 ga=$2 gb=$3 t g
	shift 3
	for t in "$@"; do
		g=$ga
		is_1b "$t" && g=$gb
		# shellcheck disable=SC2086 # a space-separated list of times
		add_row "$g" "$t" "$(kind_of "$t")" ms "${label[$t]}" ${times[$w/$t]:-}
	done
}

# drop W T WHY GROUP...: leave tool T out of workload W for the rest of
# the run (WHY said), its times in the rows GROUP... discarded.
drop() {
	local w=$1 t=$2 why=$3 g
	shift 3
	say "$w: $t left out of $w: $why"
	dead[$w/$t]=1
	for g in "$@"; do times[$g/$t]=; done
}

# ---------------------------------------------------------------- 1
# Workload 1 times each tool in blocks of BLOCK_1 starts back to back,
# the blocks of the tools alternating in an order that rotates round by
# round, and the host let go quiet (settle) and one untimed start made
# before each block. Alternating
# start by start was tried: a start after another tool's, or after a
# pause, is not the same for every tool. crun's first write into a v1
# cgroup.procs after a few quiet milliseconds waits for an RCU grace
# period (RESULTS.md, "Eleventh pass"): its start took 17 ms there
# against 7.4 back to back, while rkt, which joins its cgroups through
# tasks, was not touched. Within a block, a tool's own aftermath falls on
# its own next start, as it would on a host that runs only that tool;
# 1c times single starts after a pause.
# timed_start KEY T ID: one start of tool T (ID names it) timed into
# times[KEY/T]; a failure leaves T out, drops its KEY times and returns 1.
timed_start() {
	local key=$1 t=$2 id=$3 t0 t1
	t0=$EPOCHREALTIME
	if start "$t" "$id"; then
		t1=$EPOCHREALTIME
		times[$key/$t]+="$(ms_between "$t0" "$t1") "
		return 0
	fi
	leave_out "$t" "start $id failed: $(tail -1 "$work/err")"
	times[$key/$t]=
	return 1
}
w1() {
	local tools t i r b
	mapfile -t tools < <(usable "${tools_1a[@]}" "${tools_1b[@]}")
	local rounds=$(((RUNS + BLOCK_1 - 1) / BLOCK_1))
	say "1: start to exit, $rounds rounds of $BLOCK_1 starts of ${tools[*]}"
	for t in "${tools[@]}"; do start "$t" warm || true; done
	rkt_gc
	local n=${#tools[@]} k
	for r in $(seq "$rounds"); do
		for k in $(seq 0 $((n - 1))); do
			t=${tools[$(((r + k) % n))]}
			[ -n "${ok[$t]}" ] || continue
			settle
			# The block's first start, untimed: the one after a pause is
			# 1c's.
			start "$t" "w$r" || true
			for b in $(seq "$BLOCK_1"); do
				i=$(((r - 1) * BLOCK_1 + b))
				[ "$i" -le "$RUNS" ] || break
				timed_start 1 "$t" "$i" || break
			done
		done
	done
	# 1c: one start at a time on a quiet host, the tools without
	# networks alternating start by start. What a start costs after the
	# host has idled differs from one in a series, and not by the same for
	# every tool (crun's first cgroup.procs write waits for an RCU grace
	# period then: see RESULTS.md, "Eleventh pass").
	mapfile -t tools < <(usable "${tools_1a[@]}")
	n=${#tools[@]}
	say "1c: start to exit on a quiet host, $COLD_RUNS rounds of ${tools[*]}"
	for i in $(seq "$COLD_RUNS"); do
		for k in $(seq 0 $((n - 1))); do
			t=${tools[$(((i + k) % n))]}
			[ -n "${ok[$t]}" ] || continue
			settle
			timed_start 1c "$t" "q$i" || true
		done
	done
	# Once, after the runs: RUNS × 2 exited pods cost a start nothing,
	# and a removal's aftermath (writeback, discards) would fall on the
	# next block.
	rkt_gc
	mapfile -t tools < <(usable "${tools_1a[@]}" "${tools_1b[@]}")
	network_rows 1 1a 1b "${tools[@]}"
	for t in $(usable "${tools_1a[@]}"); do
		# shellcheck disable=SC2086 # a space-separated list of times
		add_row 1c "$t" "$(kind_of "$t")" ms "${label[$t]}" ${times[1c/$t]:-}
	done
}

# ---------------------------------------------------------------- 2
w2() {
	local tools t r t0 t1
	mapfile -t tools < <(usable rkt crun runc nspawn podman docker gochain)
	say "2: 50 containers $PAR_50 at a time, $ROUNDS_50 rounds of ${tools[*]}"
	[ -z "${ok[nspawn]}" ] || ns_slots 50
	for r in $(seq "$ROUNDS_50"); do
		for t in "${tools[@]}"; do
			[ -z "${dead[2/$t]:-}" ] || continue
			argv "$t" "c$r-{}" true '{}'
			settle
			t0=$EPOCHREALTIME
			if seq 50 | xargs -P"$PAR_50" -I{} "${A[@]}" >/dev/null 2>"$work/err"; then
				t1=$EPOCHREALTIME
				times[2/$t]+="$(s_between "$t0" "$t1") "
			else
				drop 2 "$t" "a container of round $r failed ($(tail -1 "$work/err"))" 2
			fi
			[ "$t" != rkt ] || rkt_gc
		done
	done
	for t in "${tools[@]}"; do
		# shellcheck disable=SC2086
		add_row 2 "$t" "$(kind_of "$t")" s "${label[$t]}" ${times[2/$t]:-}
	done
}

# ---------------------------------------------------------------- 3
# fetch TOOL REF LAYOUT: one fetch into an empty store under $work/run,
# timed; the store emptied and the page cache dropped outside the timing.
fetch_one() {
	local t=$1 ref=$2 layout=$3 d=$work/run t0 t1 rc=0
	umount_under "$d"
	rm -rf "$d"
	mkdir -p "$d"
	[ "$t" != docker ] || "$docker" rmi -f "$ref" >/dev/null 2>&1 || true
	drop_caches
	t0=$EPOCHREALTIME
	case $t in
	rkt) "$rkt" --dir="$d/data" --insecure-options=image,http fetch "docker://$ref" >/dev/null 2>"$work/err" || rc=$? ;;
	podman) pm --root "$d/root" --runroot "$d/runroot" pull -q "$ref" >/dev/null 2>"$work/err" || rc=$? ;;
	docker) "$docker" pull -q "$ref" >/dev/null 2>"$work/err" || rc=$? ;;
	skopeo+umoci) { skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$d/layout:latest" &&
		umoci unpack --image "$d/layout:latest" "$d/bundle"; } >/dev/null 2>"$work/err" || rc=$? ;;
	tar) mkdir "$d/x" && tar -xzf "$(layout_layer "$layout")" -C "$d/x" 2>"$work/err" || rc=$? ;;
	esac
	t1=$EPOCHREALTIME
	[ "$t" != podman ] || pm --root "$d/root" --runroot "$d/runroot" rmi -af >/dev/null 2>&1 || true
	umount_under "$d"
	rm -rf "$d"
	[ "$rc" = 0 ] || return "$rc"
	printf '%s' "$(ms_between "$t0" "$t1")"
}
w3() {
	local tools=(rkt) t i g ref layout v unit
	[ -z "${ok[podman]}" ] || tools+=(podman)
	[ -z "${ok[docker]}" ] || tools+=(docker)
	if command -v skopeo >/dev/null && command -v umoci >/dev/null; then tools+=(skopeo+umoci); else say "skopeo+umoci left out: not installed"; fi
	tools+=(tar)
	local -A lbl3=(
		[rkt]="rkt fetch (download, verify, unpack)"
		[podman]="podman pull (empty store)"
		[docker]="docker pull (image removed before)"
		[skopeo+umoci]="skopeo copy + umoci unpack"
	)
	say "3: fetch, $FETCH_RUNS runs of ${tools[*]}"
	for i in $(seq "$FETCH_RUNS"); do
		for g in 3a 3b; do
			ref=$ref_bb layout=$bb_layout
			[ $g = 3a ] || ref=$ref_deb layout=$deb_layout
			for t in "${tools[@]}"; do
				[ -z "${dead[3/$t]:-}" ] || continue
				if v=$(fetch_one "$t" "$ref" "$layout"); then
					times[$g/$t]+="$v "
				else
					drop 3 "$t" "it failed ($(tail -1 "$work/err"))" 3a 3b
				fi
			done
		done
	done
	for g in 3a 3b; do
		layout=$bb_layout unit=ms
		[ $g = 3a ] || layout=$deb_layout unit=s
		lbl3[tar]="tar -xzf of the layer from local disk (floor; $(du -h "$(layout_layer "$layout")" | cut -f1) gzip)"
		for t in "${tools[@]}"; do
			local vals=()
			for v in ${times[$g/$t]:-}; do
				[ $unit = ms ] && vals+=("$v") || vals+=("$(awk -v x="$v" 'BEGIN{printf "%.4f", x/1000}')")
			done
			add_row "$g" "$t" "$(kind_of "$t")" "$unit" "${lbl3[$t]}" "${vals[@]}"
		done
	done
	# docker runs the busybox image again after this.
	[ -z "${ok[docker]}${ok[docker-net]}" ] || "$docker" pull -q "$ref_bb" >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- 4
# pss_snap FILE: "PID Pss-KiB" of every process on the host but the apps.
pss_snap() {
	local -A app=()
	local p k v
	for p in $(app_pids); do app[$p]=1; done
	for p in /proc/[0-9]*; do
		[ -z "${app[${p#/proc/}]:-}" ] || continue
		{ while read -r k v _; do
			if [ "$k" = Pss: ]; then
				echo "${p#/proc/} $v"
				break
			fi
		done <"$p/smaps_rollup"; } 2>/dev/null || true
	done >"$1"
}
# pss_delta BEFORE AFTER: the after sum minus the before sum, in KiB. A
# process that exited in between is left out of the before sum: it cannot
# be part of what was started, and another user's exit is not a saving.
# With MEM_DEBUG=1, the largest contributions go to stderr.
pss_delta() {
	awk 'NR == FNR {b[$1] = $2; next} {d = $2 - b[$1]; s += d; if (d != 0) print $1, d >"/dev/stderr"} END {print s + 0}' "$1" "$2" 2>"$1.d"
	if [ "${MEM_DEBUG:-0}" = 1 ]; then
		sort -k2,2nr "$1.d" | head -5 | while read -r p d; do
			say "  pss $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-70): $d KiB"
		done
	fi
}
# sleepers TOOL FROM TO: starts containers FROM..TO sleeping and waits until
# TO apps run (a minute at most).
sleepers() {
	local t=$1 n i
	for i in $(seq "$2" "$3"); do
		argv "$t" "m$i" sleep "$i"
		case $t in
		podman | docker) "${A[@]}" </dev/null >/dev/null 2>>"$work/err" || return 1 ;;
		*)
			"${A[@]}" </dev/null >/dev/null 2>>"$work/err" &
			bg+=($!)
			;;
		esac
	done
	for i in $(seq 600); do
		n=$(app_pids | wc -l)
		[ "$n" -ge "$3" ] && return 0
		sleep 0.1
	done
	echo "only $n of $3 apps came up" >>"$work/err"
	return 1
}
# stop_sleepers: kills the apps; every tool's container then exits.
stop_sleepers() {
	local p i
	for p in $(app_pids); do kill -KILL "$p" 2>/dev/null || true; done
	[ ${#bg[@]} -eq 0 ] || wait "${bg[@]}" 2>/dev/null || true
	bg=()
	if [ -n "${ok[docker]}" ]; then "$docker" ps -aq --filter "ancestor=$ref_bb" | xargs -r "$docker" rm -f >/dev/null 2>&1 || true; fi
	if [ ${#podman_env[@]} -gt 0 ]; then pm rm -af -t 0 >/dev/null 2>&1 || true; fi
	rkt_gc
	for i in $(seq 100); do
		[ -z "$(app_pids)" ] && break
		sleep 0.1
	done
}
w4() {
	local tools t r s=$work/pss
	mapfile -t tools < <(usable rkt crun runc nspawn podman docker bwrap gochain)
	say "4: memory, $MEM_REPS repetitions of ${tools[*]}"
	[ -z "${ok[nspawn]}" ] || ns_slots 20
	# The registry is not needed here, and its heap shrinks a while after
	# a push or pull: stopped for the measurement, started again after it.
	registry_stop
	for r in $(seq "$MEM_REPS"); do
		for t in "${tools[@]}"; do
			[ -z "${dead[4/$t]:-}" ] || continue
			: >"$work/err"
			sleep 1
			pss_snap "$s.0"
			if sleepers "$t" 1 1 && sleep 1 && pss_snap "$s.1" &&
				sleepers "$t" 2 20 && sleep 1 && pss_snap "$s.20"; then
				times[4a/$t]+="$(pss_delta "$s.0" "$s.1") "
				times[4b/$t]+="$(($(pss_delta "$s.1" "$s.20") / 19)) "
			else
				drop 4 "$t" "$(tail -1 "$work/err")" 4a 4b
			fi
			stop_sleepers
		done
	done
	for t in "${tools[@]}"; do
		# shellcheck disable=SC2086
		add_row 4a "$t" "$(kind_of "$t")" KiB "${label[$t]}" ${times[4a/$t]:-}
		# shellcheck disable=SC2086
		add_row 4b "$t" "$(kind_of "$t")" KiB "${label[$t]}" ${times[4b/$t]:-}
	done
	local was=$registry
	registry_start "$work/registry" "${registry##*:}"
	[ "$registry" = "$was" ] || bench_die "the registry came back on $registry, not $was"
}

# ---------------------------------------------------------------- 5
# hyperfine_row GROUP LABEL JSON: a row of rkt's run times in a hyperfine
# export, summarised as every other row is.
hyperfine_row() {
	local g=$1 lbl=$2 json=$3
	# shellcheck disable=SC2046 # one word per run time
	add_row "$g" rkt rkt ms "$lbl" $(jq -r '.results[0].times[] * 1000' "$json")
}
w5() {
	local d=$work/pods pimg n uuid t0 t1 left
	say "5: $PODS exited pods"
	# A failure here leaves 5 out, not the whole report (written at the
	# end): the other workloads' rows are kept.
	if ! pimg=$("$rkt" --dir="$d" --insecure-options=image,http fetch "docker://$ref_bb" 2>"$work/err"); then
		say "5: left out: fetch failed ($(tail -1 "$work/err"))"
		return 0
	fi
	t0=$EPOCHREALTIME
	seq "$PODS" | xargs -P4 -I{} "$rkt" --dir="$d" run --net=host "$pimg" --exec=/bin/true >/dev/null 2>"$work/err" ||
		say "5: some of the $PODS pods failed: $(tail -1 "$work/err")"
	t1=$EPOCHREALTIME
	n=$(find "$d/pods/run" -mindepth 1 -maxdepth 1 | wc -l)
	say "5: created $n exited pods in $(fmt "$(s_between "$t0" "$t1")") s (4 at a time)"
	uuid=$(find "$d/pods/run" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | sed -n "$((n / 2 + 1))p")
	if hyperfine -N --warmup 1 --runs 10 --export-json "$work/list.json" "$rkt --dir=$d list" >/dev/null 2>"$work/err"; then
		hyperfine_row 5a "rkt list ($n pods; hyperfine, 10 runs)" "$work/list.json"
	else
		say "5: rkt list failed: $(tail -1 "$work/err")"
	fi
	if hyperfine -N --warmup 1 --runs 10 --export-json "$work/status.json" "$rkt --dir=$d status $uuid" >/dev/null 2>"$work/err"; then
		hyperfine_row 5b "rkt status UUID (hyperfine, 10 runs)" "$work/status.json"
	else
		say "5: rkt status failed: $(tail -1 "$work/err")"
	fi
	t0=$EPOCHREALTIME
	if ! "$rkt" --dir="$d" gc --grace-period=0s >/dev/null 2>"$work/err"; then
		say "5: rkt gc failed: $(tail -1 "$work/err")"
		return 0
	fi
	t1=$EPOCHREALTIME
	left=$(find "$d/pods" -mindepth 2 -maxdepth 2 | wc -l)
	[ "$left" = 0 ] || say "5: gc left $left pod directories"
	add_row 5c rkt rkt s "rkt gc --grace-period=0s (once)" "$(s_between "$t0" "$t1")"
}

# ---------------------------------------------------------------- 6
hz=$(getconf CLK_TCK)
# busy_jiffies: the host's non-idle CPU time so far (user, nice, system,
# irq, softirq, steal; not idle or iowait).
busy_jiffies() {
	local _cpu user nice system _idle _iowait irq softirq steal _rest
	read -r _cpu user nice system _idle _iowait irq softirq steal _rest </proc/stat
	echo $((user + nice + system + irq + softirq + steal))
}
# settle: wait, up to 5 s, for the host to go quiet (at most 4 % of the
# CPUs busy over a quarter of a second), so that what one tool leaves
# running (a daemon's cleanup, the kernel's deferred teardown of network
# namespaces, writeback) is not counted in the next tool's window.
settle() {
	local i a b quiet
	quiet=$(($(nproc) * hz / 4 / 25))
	sync
	for i in $(seq 20); do
		a=$(busy_jiffies)
		sleep 0.25
		b=$(busy_jiffies)
		[ $((b - a)) -gt "$quiet" ] || return 0
	done
}
w6() {
	local tools t r i c0 c1
	mapfile -t tools < <(usable "${tools_1a[@]}" "${tools_1b[@]}")
	say "6: CPU per start, $CPU_REPS × $CPU_RUNS starts of ${tools[*]}"
	for r in $(seq "$CPU_REPS"); do
		for t in "${tools[@]}"; do
			[ -n "${ok[$t]}" ] || continue
			settle
			c0=$(busy_jiffies)
			for i in $(seq "$CPU_RUNS"); do
				start "$t" "cpu$r-$i" || { leave_out "$t" "start failed: $(tail -1 "$work/err")"; break; }
			done
			c1=$(busy_jiffies)
			[ -n "${ok[$t]}" ] && times[6/$t]+="$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v n="$CPU_RUNS" 'BEGIN{printf "%.2f", (b-a)*1000/hz/n}') "
			[[ $t != rkt* ]] || rkt_gc
		done
	done
	network_rows 6 6a 6b "${tools[@]}"
}

# ---------------------------------------------------------------- run
for w in $WORKLOADS; do
	case $w in
	1 | 2 | 3 | 4 | 5 | 6) "w$w" ;;
	*) say "no workload $w" ;;
	esac
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(fmt "$(s_between "$started" "$EPOCHREALTIME")")

# ---------------------------------------------------------------- report
# ratio G MEDIAN KIND UNIT: rkt's median in group G over MEDIAN; for a
# floor also rkt's distance from it.
ratio() {
	local rk=${median_of[$1/rkt]:-${median_of[$1/rkt-net]:-}}
	[ -n "$rk" ] || { echo "–"; return; }
	awk -v r="$rk" -v m="$2" -v kind="$3" -v unit="$4" 'BEGIN{
		if (m <= 0) { printf "n/a"; exit }
		printf "%.2f", r/m
		if (kind == "floor") { d = r - m; a = (d<0)?-d:d; f = (a>=100)?"%+.0f":(a>=10)?"%+.1f":"%+.2f"; printf " (" f " %s)", d, unit }
	}'
}
# target TEXT VALUE LIMIT: "met" when VALUE <= LIMIT.
target() {
	local text=$1 v=$2 limit=$3
	if [ -z "$v" ]; then
		echo "- $text: not measured"
	elif awk -v v="$v" -v l="$limit" 'BEGIN{exit !(v <= l)}'; then
		echo "- $text: $v — met"
	else
		echo "- $text: $v — MISSED"
	fi
}
# over G A B: median of A over median of B in group G, three decimals:
# with two, a ratio of 0.1035 would print, and pass a 0.10 target, as 0.10.
over() {
	local a=${median_of[$1/$2]:-} b=${median_of[$1/$3]:-}
	[ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" 'BEGIN{printf "%.3f", a/b}'
}
version_of() {
	command -v "$1" >/dev/null || { echo "not installed"; return; }
	"$@" 2>/dev/null | head -1
}
cpu_model=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
mem_total=$(awk '/^MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)
dockerv="not measured"
[ -z "${docker_root:-}" ] || dockerv=$("$docker" version -f '{{.Server.Version}}' 2>/dev/null)

report() {
	echo "# rkt against peer runtimes (make bench)"
	echo
	echo "Machine: $(nproc) CPUs ($cpu_model), $mem_total, Linux $(uname -r); load average $load_start at the start, $load_end at the end. Measuring took ${elapsed} s."
	echo
	echo "Versions: rkt $("$rkt" version | awk '/^rkt Version/{print $3}'); crun $(version_of crun --version | awk '{print $3}'); runc $(version_of runc --version | awk '{print $3}'); podman $(version_of podman --version | awk '{print $3}'); docker (server) $dockerv; $(version_of systemd-nspawn --version | awk '{print $1, $2}') (systemd-nspawn); $(version_of bwrap --version); $(version_of hyperfine --version)."
	echo
	echo "Workloads: $WORKLOADS. Counts: RUNS=$RUNS (in blocks of BLOCK_1=$BLOCK_1), COLD_RUNS=$COLD_RUNS, ROUNDS_50=$ROUNDS_50, PAR_50=$PAR_50, FETCH_RUNS=$FETCH_RUNS, PODS=$PODS, MEM_REPS=$MEM_REPS, CPU_RUNS=$CPU_RUNS × CPU_REPS=$CPU_REPS."
	echo
	echo "| workload | tool | median | min | max | unit | rkt ÷ tool |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	local row g t kind med mn mx unit lbl og
	for og in "${group_order[@]}"; do
		for row in "${rows[@]}"; do
			IFS='|' read -r g t kind med mn mx unit lbl <<<"$row"
			[ "$g" = "$og" ] || continue
			[ "$kind" = rkt ] && lbl="**$lbl**"
			printf '| %s | %s | %s | %s | %s | %s | %s |\n' "${group_title[$g]}" "$lbl" "$(fmt "$med")" "$(fmt "$mn")" "$(fmt "$mx")" "$unit" "$(ratio "$g" "$med" "$kind" "$unit")"
		done
	done
	echo
	echo "Notes:"
	echo "- Times are wall clock around each command (bash \$EPOCHREALTIME), from one run of this suite, after a warm-up; in workload 1 each tool runs $BLOCK_1 starts back to back, the tools' blocks alternating in an order that rotates round by round, with the host let go quiet and one untimed start made before each block (what a tool leaves behind falls on its own next start, not on another tool's; 1a is starts in a series); in 1c each start is alone, the host let go quiet before it, the tools alternating; in 2 the tools' batches alternate, the host quiet before each; in 3 the tools alternate fetch by fetch; rkt gc runs outside the timing (in workload 1 once, after the runs)."
	echo "- 1b: systemd-nspawn's default is the host network (no network namespace); rkt's default is its CNI network (ptp, host-local, masqueraded)."
	echo "- 2: rkt with --net=host; systemd-nspawn with --private-network, each container on its own hard-linked copy of the rootfs (nspawn locks its tree)."
	echo "- 3: each fetch starts from an empty store with the page cache dropped; docker's image is removed before each pull, outside the timing; the registry is Debian's docker-registry on $registry."
	echo "- 4: Pss summed over all processes on the host, after minus before, excluding the apps (busybox sleep) and, from the before sum, processes that exited in between; it counts daemon growth (dockerd, containerd, shims, conmon, crun/runc/nspawn parents, rkt's stage1 processes), not daemons already idle before the start, and not kernel memory (mounts, namespaces, cgroups). Other activity on the host shows up as noise; min and max are over $MEM_REPS repetition(s); the apps are waited for (the busybox sleep running), then 1 s to settle."
	echo "- Floors: bwrap (namespaces and mounts, no runtime of its own), tar (3) and tools/gochain: three empty static Go programs in rkt's process shape (the first execs the second, which starts the third in new mount, PID, UTS and IPC namespaces, which runs the app chrooted into the busybox rootfs). rkt's distance to gochain is its own work (the pod directory and manifest, cgroups, the app's mounts and isolation, its packages' initialization); gochain against crun is three Go runtimes against crun's whole start."
	echo "- 5: rkt only; peers are not measured: podman ps -a with 1,000 created containers is too slow to set up here."
	echo "- 6: user+nice+system+irq+softirq+steal of /proc/stat before and after $CPU_RUNS starts back to back, divided by $CPU_RUNS: it counts everything on the host, so the machine must be quiet; median, min and max over $CPU_REPS repetition(s)."
	echo
	echo "Targets:"
	target "1a rkt ÷ crun ≤ 1.0" "$(over 1a rkt crun)" 1.0
	[ -z "$(over 1c rkt crun)" ] || echo "  (1c, each start alone on a quiet host, for comparison: rkt ÷ crun $(over 1c rkt crun))"
	target "1a rkt ÷ podman --network=none ≤ 0.10 (10× faster)" "$(over 1a rkt podman)" 0.10
	target "1b rkt ÷ podman run (default network) ≤ 0.25" "$(over 1b rkt-net podman-net)" 0.25
	if [ "$PAR_50" = 10 ]; then
		target "2 rkt ÷ crun ≤ 1.0" "$(over 2 rkt crun)" 1.0
	else
		echo "- 2 rkt ÷ crun ≤ 1.0: not measured (the target is for 10 at a time; PAR_50=$PAR_50 gave $(over 2 rkt crun))"
	fi
	target "3a busybox: rkt fetch ÷ podman pull ≤ 0.5" "$(over 3a rkt podman)" 0.5
	target "3b Debian: rkt fetch ÷ podman pull ≤ 0.5" "$(over 3b rkt podman)" 0.5
	target "3b Debian: rkt fetch ÷ tar -xzf of its layer ≤ 1.0" "$(over 3b rkt tar)" 1.0
	target "4a non-app memory of a pod ≤ 4096 KiB" "${median_of[4a/rkt]:-}" 4096
	target "4b non-app memory per extra pod ≤ 4096 KiB" "${median_of[4b/rkt]:-}" 4096
	target "5a rkt list < 200 ms" "$([ -z "${median_of[5a/rkt]:-}" ] || fmt "${median_of[5a/rkt]}")" 199.999
	target "5b rkt status < 200 ms" "$([ -z "${median_of[5b/rkt]:-}" ] || fmt "${median_of[5b/rkt]}")" 199.999
	target "5c rkt gc of $PODS pods < 10 s" "$([ -z "${median_of[5c/rkt]:-}" ] || fmt "${median_of[5c/rkt]}")" 9.999
}
mkdir -p "$(dirname "$out")"
report | tee "$out"
say "written to $out"
