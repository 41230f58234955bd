#!/usr/bin/env bash
# Pod start benchmark: workloads 1 (start to exit of /bin/true, without
# networking and with each tool's default network, in blocks of starts
# back to back, and single starts on a quiet host), 2 (50 pods, 10 at a
# time) and 4 (memory of the non-app processes) of bench/suite.sh: rkt
# against crun, runc, systemd-nspawn, podman, docker and bwrap, in one
# run. As root, after make build.
#   bench/run.sh              RUNS=30 by default
#   RUNS=10 PODMAN=0 bench/run.sh     (PODMAN=0 leaves podman out)
set -euo pipefail
skip=${SKIP_TOOLS:-}
[ "${PODMAN:-1}" = 1 ] || skip+=" podman"
WORKLOADS=${WORKLOADS:-1 2 4} RUNS=${RUNS:-30} SKIP_TOOLS=$skip \
	BENCH_OUT=${BENCH_OUT:-$(dirname "$0")/.cache/run-latest.md} exec "$(dirname "$0")/suite.sh"
