#!/usr/bin/env bash
# Fetch benchmark: a realistic image (a debootstrap --variant=minbase Debian
# rootfs as one gzip layer) served from a registry on 127.0.0.1, timed as
#   rkt fetch (download + verify + unpack)         into an empty store
#   podman pull                                    into an empty store (if installed)
#   skopeo copy + umoci unpack                     (if installed)
#   tar -xzf of the same layer from local disk     (the floor)
# Prints min/median/max of RUNS runs of each, alternated, and the ratios of
# the medians. Needs root. The image is built once and cached in bench/.cache.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
PORT=${PORT:-5077}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
cache=$PWD/bench/.cache
work=$(mktemp -d /tmp/rkt-bench.XXXXXX)
rkt=$PWD/bin/rkt
regpid=
cleanup() {
	[ -n "$regpid" ] && kill "$regpid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

scripts/install-deps.sh bench || echo "bench: some peers could not be installed; they are skipped" >&2
mkdir -p "$cache"

if [ ! -f "$cache/debian/index.json" ]; then
	if [ ! -f "$cache/rootfs/etc/os-release" ]; then
		echo "bench: debootstrap of $SUITE minbase (about a minute)"
		rm -rf "$cache/rootfs"
		debootstrap --variant=minbase "$SUITE" "$cache/rootfs" "$MIRROR" >"$cache/debootstrap.log" 2>&1
	fi
	echo "bench: packing the $SUITE minbase image"
	rm -rf "$cache/debian"
	rm -rf "$cache/rootfs"/var/cache/apt/archives/*.deb "$cache/rootfs"/var/lib/apt/lists/* "$cache/rootfs"/dev/*
	umoci init --layout "$cache/debian"
	umoci new --image "$cache/debian:latest"
	umoci unpack --image "$cache/debian:latest" "$work/bundle" >/dev/null
	cp -a "$cache/rootfs/." "$work/bundle/rootfs/"
	umoci repack --image "$cache/debian:latest" "$work/bundle" >/dev/null
	umoci config --image "$cache/debian:latest" --config.cmd /bin/bash >/dev/null
	umoci gc --layout "$cache/debian"
	rm -rf "$work/bundle"
fi

# The layer blob, for the tar floor.
# The layer blob is the largest blob of the layout.
layer=$cache/debian/blobs/sha256/$(ls -S "$cache/debian/blobs/sha256" | head -1)
echo "bench: layer $(basename "$layer") is $(du -h "$layer" | cut -f1) gzip"

regpid=$(scripts/registry.sh "$work/registry" "$PORT")
ref=127.0.0.1:$PORT/bench/debian:latest
skopeo copy -q --dest-tls-verify=false "oci:$cache/debian:latest" "docker://$ref"

# Podman without systemd, in a store of its own (see peers.md).
cat >"$work/containers.conf" <<CONF
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
CONF
cat >"$work/registries.conf" <<CONF
[[registry]]
location = "127.0.0.1:$PORT"
insecure = true
CONF
export CONTAINERS_CONF=$work/containers.conf CONTAINERS_REGISTRIES_CONF=$work/registries.conf

declare -A times
tools=(rkt tar)
command -v podman >/dev/null && tools+=(podman)
command -v skopeo >/dev/null && command -v umoci >/dev/null && tools+=(skopeo+umoci)

run_one() {
	local tool=$1 d=$work/run
	rm -rf "$d"
	mkdir -p "$d"
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	local t0 t1
	t0=$(date +%s.%N)
	case $tool in
	rkt) "$rkt" --dir="$d/data" --insecure-options=image,http fetch "docker://$ref" >/dev/null ;;
	tar) mkdir "$d/x" && tar -xzf "$layer" -C "$d/x" ;;
	podman) podman --root "$d/root" --runroot "$d/runroot" --storage-driver overlay pull -q "$ref" >/dev/null ;;
	skopeo+umoci) skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$d/layout:latest" && umoci unpack --image "$d/layout:latest" "$d/bundle" >/dev/null ;;
	esac
	t1=$(date +%s.%N)
	times[$tool]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", b-a}') "
	if [ "$tool" = podman ]; then podman --root "$d/root" --runroot "$d/runroot" --storage-driver overlay rmi -a -f >/dev/null 2>&1 || true; fi
	rm -rf "$d"
}

for i in $(seq "$RUNS"); do
	for tool in "${tools[@]}"; do run_one "$tool"; done
done

stats() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {printf "%.3f %.3f %.3f", a[1], a[int((NR+1)/2)], a[NR]}'; }
printf '\n%-14s %8s %8s %8s %10s %10s\n' tool min_s median_s max_s x_tar x_podman
read -r _ tarmed _ <<<"$(echo "${times[tar]}" | stats)"
podmed=
[ -n "${times[podman]:-}" ] && read -r _ podmed _ <<<"$(echo "${times[podman]}" | stats)"
for tool in "${tools[@]}"; do
	read -r mn md mx <<<"$(echo "${times[$tool]}" | stats)"
	xp=-
	[ -n "$podmed" ] && xp=$(awk -v a="$md" -v b="$podmed" 'BEGIN{printf "%.2f", a/b}')
	printf '%-14s %8s %8s %8s %10s %10s\n' "$tool" "$mn" "$md" "$mx" "$(awk -v a="$md" -v b="$tarmed" 'BEGIN{printf "%.2f", a/b}')" "$xp"
done
echo
echo "runs: $RUNS each, alternated; page cache dropped before each run; $(nproc) cores; $(uname -r)"
