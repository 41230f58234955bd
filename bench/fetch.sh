#!/usr/bin/env bash
# Fetch benchmark: workload 3 of bench/suite.sh. A realistic image (a
# debootstrap --variant=minbase Debian rootfs as one gzip layer, built once
# and cached in bench/.cache) and the busybox image, served from a registry
# on 127.0.0.1, fetched into an empty store with the page cache dropped:
#   rkt fetch (download + verify + unpack)
#   podman pull, docker pull (image removed before each run)
#   skopeo copy + umoci unpack
#   tar -xzf of the same layer from local disk     (the floor)
# RUNS (default 7) runs of each, alternated. As root, after make build.
# SUITE and MIRROR choose the Debian release and mirror of the image.
set -euo pipefail
WORKLOADS=3 FETCH_RUNS=${FETCH_RUNS:-${RUNS:-7}} \
	BENCH_OUT=${BENCH_OUT:-$(dirname "$0")/.cache/fetch-latest.md} exec "$(dirname "$0")/suite.sh"
