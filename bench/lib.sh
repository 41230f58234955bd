# shellcheck shell=bash disable=SC2034 # its variables are read by the scripts that source it
# Helpers shared by the benchmark scripts (suite.sh and its wrappers run.sh,
# fetch.sh, podscale.sh): statistics, the hugetlb fix crun needs on a hybrid
# cgroup host, podman without systemd, the benchmark images, the loopback
# registry and dockerd. Source it; it sets no shell options of its own.

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rkt=$bench_root/bin/rkt
# Built images are cached here between runs (bench/.cache is git-ignored).
cache=${BENCH_CACHE:-$bench_root/bench/.cache}

bench_die() {
	echo "bench: $*" >&2
	exit 1
}

# Root and a built rkt: every benchmark needs both.
bench_require() {
	[ "$(id -u)" -eq 0 ] || bench_die "needs root"
	if [ ! -x "$rkt" ] || [ ! -f "$bench_root/bin/stage1-ns.aci" ]; then bench_die "run make build first"; fi
}

# stats N... prints "median min max" of the numbers given.
stats() {
	printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.6g %.6g %.6g", m, v[1], v[NR]}'
}

# ms_between T0 T1: milliseconds between two $EPOCHREALTIME values.
ms_between() {
	awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", (b-a)*1000}'
}

# s_between T0 T1: the same in seconds.
s_between() {
	awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b-a}'
}

# fmt X: a figure with a precision that suits its size.
fmt() {
	awk -v x="$1" 'BEGIN{a=(x<0)?-x:x; if (a>=100) printf "%.0f", x; else if (a>=10) printf "%.1f", x; else printf "%.2f", x}'
}

# The page cache dropped, as for a cold fetch.
drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
}

# umount_under DIR: detaches every mount at or below DIR, deepest first.
umount_under() {
	awk -v d="$1" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
}

# crun refuses a hybrid layout where cgroup2 still owns a controller
# (hugetlb here): bind hugetlb to a v1 hierarchy for the run, and give it
# back afterwards (peers.md: children must be gone first, else the
# hierarchy lives on unmounted and hugetlb never returns to cgroup2).
hugetlb_mounted=0
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

# podman_config DIR [REGISTRY]: podman without systemd, in a store of its
# own under DIR, with REGISTRY (host:port) marked insecure. Nothing under
# /etc is read or changed: the three files are passed by environment, in
# podman_env; run podman as pm ARGS. The ulimits stay within the hard
# limits, since CAP_SYS_RESOURCE is missing here (peers.md).
podman_env=()
podman_config() {
	local dir=$1 registry=${2:-}
	mkdir -p "$dir/root" "$dir/runroot" "$dir/tmp"
	cat >"$dir/containers.conf" <<-EOF
		[containers]
		default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
		[engine]
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		events_logfile_path = "$dir/events.log"
		runtime = "crun"
		tmp_dir = "$dir/tmp"
	EOF
	cat >"$dir/storage.conf" <<-EOF
		[storage]
		driver = "overlay"
		graphroot = "$dir/root"
		runroot = "$dir/runroot"
	EOF
	printf 'unqualified-search-registries = []\n' >"$dir/registries.conf"
	if [ -n "$registry" ]; then
		printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$registry" >>"$dir/registries.conf"
	fi
	podman_env=(CONTAINERS_CONF="$dir/containers.conf" CONTAINERS_STORAGE_CONF="$dir/storage.conf" CONTAINERS_REGISTRIES_CONF="$dir/registries.conf")
}
pm() {
	env "${podman_env[@]}" podman "$@"
}

# busybox_layout: the busybox image of scripts/mkbusybox.sh as an OCI
# layout in the cache, built on first use; prints its path.
busybox_layout() {
	local layout=$cache/busybox-oci
	mkdir -p "$cache"
	[ -f "$layout/index.json" ] || "$bench_root/scripts/mkbusybox.sh" "$layout" latest >/dev/null
	echo "$layout"
}

# debian_layout: a debootstrap --variant=minbase Debian rootfs packed as
# one gzip layer, stripped like the official images (no .deb cache, no apt
# lists, empty /dev), built on first use; prints its path.
debian_layout() {
	local layout=$cache/debian suite=${SUITE:-bookworm} mirror=${MIRROR:-http://deb.debian.org/debian} tmp
	mkdir -p "$cache"
	if [ ! -f "$layout/index.json" ]; then
		if [ ! -f "$cache/rootfs/etc/os-release" ]; then
			echo "bench: debootstrap of $suite minbase (about a minute)" >&2
			rm -rf "$cache/rootfs"
			debootstrap --variant=minbase "$suite" "$cache/rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
				bench_die "debootstrap failed; see $cache/debootstrap.log"
		fi
		echo "bench: packing the $suite minbase image" >&2
		tmp=$(mktemp -d /var/tmp/rkt-bench-pack.XXXXXX)
		rm -rf "$layout"
		rm -rf "$cache/rootfs"/var/cache/apt/archives/*.deb "$cache/rootfs"/var/lib/apt/lists/* "$cache/rootfs"/dev/*
		umoci init --layout "$layout"
		umoci new --image "$layout:latest"
		umoci unpack --image "$layout:latest" "$tmp/bundle" >/dev/null
		cp -a "$cache/rootfs/." "$tmp/bundle/rootfs/"
		umoci repack --image "$layout:latest" "$tmp/bundle" >/dev/null
		umoci config --image "$layout:latest" --config.cmd /bin/bash >/dev/null
		umoci gc --layout "$layout"
		rm -rf "$tmp"
	fi
	echo "$layout"
}

# layout_layer LAYOUT: the image's (one) layer blob, the largest blob.
layout_layer() {
	# shellcheck disable=SC2012 # blob names are hex digests
	echo "$1/blobs/sha256/$(ls -S "$1/blobs/sha256" | head -1)"
}

# registry_start DIR PORT: Debian's docker-registry on the first free port
# from PORT up, storage in DIR. Sets regpid and registry (host:port).
regpid=
registry=
registry_start() {
	local dir=$1 port=$2
	while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
	regpid=$("$bench_root/scripts/registry.sh" "$dir" "$port") || bench_die "the registry did not start"
	registry=127.0.0.1:$port
}
registry_stop() {
	[ -z "$regpid" ] || kill "$regpid" 2>/dev/null || true
	regpid=
}

# registry_push LAYOUT NAME: pushes LAYOUT:latest as $registry/bench/NAME
# and prints that reference.
registry_push() {
	local ref=$registry/bench/$2:latest
	skopeo copy -q --dest-tls-verify=false "oci:$1:latest" "docker://$ref" >&2 || bench_die "skopeo could not push $2"
	echo "$ref"
}

# Debian's docker CLI: a /usr/local/bin/docker may shadow it on PATH.
docker=/usr/bin/docker

# docker_start LOGDIR: dockerd (and containerd before it) started in the
# background with logs under LOGDIR, unless docker already answers. Records
# what it started and the filter FORWARD policy, which dockerd sets to
# DROP, for docker_stop. Fails if docker does not answer within a minute.
docker_started=0
containerd_pid=
dockerd_pid=
forward_policy=
docker0_existed=1
docker_start() {
	local logdir=$1 i
	"$docker" info >/dev/null 2>&1 && return 0
	command -v dockerd >/dev/null && command -v containerd >/dev/null || return 1
	forward_policy=$(iptables -S FORWARD 2>/dev/null | awk '$1=="-P"{print $3; exit}')
	ip link show docker0 >/dev/null 2>&1 || docker0_existed=0
	docker_started=1
	if [ ! -S /run/containerd/containerd.sock ] || ! pgrep -x containerd >/dev/null; then
		containerd >"$logdir/containerd.log" 2>&1 &
		containerd_pid=$!
		for i in $(seq 100); do
			[ -S /run/containerd/containerd.sock ] && break
			[ "$i" = 100 ] && return 1
			sleep 0.1
		done
	fi
	dockerd --containerd=/run/containerd/containerd.sock >"$logdir/dockerd.log" 2>&1 &
	dockerd_pid=$!
	for _ in $(seq 600); do
		"$docker" info >/dev/null 2>&1 && return 0
		kill -0 "$dockerd_pid" 2>/dev/null || break
		sleep 0.1
	done
	tail -5 "$logdir/dockerd.log" >&2
	return 1
}

# docker_stop: undoes docker_start: dockerd, then containerd, the bind
# mount dockerd leaves of /var/lib/docker on itself, the docker0 bridge if
# it was not there before, and the FORWARD policy.
docker_stop() {
	local p i
	[ "$docker_started" = 1 ] || return 0
	for p in "$dockerd_pid" "$containerd_pid"; do
		[ -n "$p" ] || continue
		kill -TERM "$p" 2>/dev/null
		for i in $(seq 300); do
			kill -0 "$p" 2>/dev/null || break
			[ "$i" = 300 ] && kill -KILL "$p" 2>/dev/null
			sleep 0.1
		done
		wait "$p" 2>/dev/null
	done
	while awk '$5=="/var/lib/docker"{f=1} END{exit !f}' /proc/self/mountinfo; do
		umount /var/lib/docker || umount -l /var/lib/docker || break
	done
	[ "$docker0_existed" = 1 ] || ip link delete docker0 2>/dev/null
	[ -z "$forward_policy" ] || iptables -P FORWARD "$forward_policy"
	docker_iptables_cleanup
	docker_started=0
}

# docker_iptables_cleanup removes the rules and chains dockerd added to
# the filter and nat tables (it leaves them behind when it stops); called
# only when the suite started dockerd, whose chains were not there before.
docker_iptables_cleanup() {
	local t rule chain
	for t in filter nat; do
		iptables -t "$t" -S 2>/dev/null | grep -E '^-A ' | grep -E 'DOCKER|docker0' |
			while read -r rule; do
				# xargs splits the rule as iptables -S quoted it (a
				# --comment "with spaces"), with no globbing.
				printf '%s\n' "${rule/#-A/-D}" | xargs iptables -t "$t" 2>/dev/null || true
			done
		iptables -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}' |
			while read -r chain; do
				iptables -t "$t" -F "$chain" 2>/dev/null || true
				iptables -t "$t" -X "$chain" 2>/dev/null || true
			done
	done
}
