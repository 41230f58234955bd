#!/usr/bin/env bash
# rkt list, status and gc with many pods: workload 5 of bench/suite.sh.
# Creates PODS (default 1000) exited pods in a fresh data directory by
# running them for real (rkt run --net=host --exec=/bin/true through xargs
# -P4, so each is exactly what rkt leaves), then times rkt list and rkt
# status UUID (hyperfine, 10 runs each) and one rkt gc --grace-period=0s
# of them all. As root, after make build.
set -euo pipefail
WORKLOADS=5 PODS=${PODS:-1000} \
	BENCH_OUT=${BENCH_OUT:-$(dirname "$0")/.cache/podscale-latest.md} exec "$(dirname "$0")/suite.sh"
