#!/usr/bin/env bash
# Runs the static checks: `go vet` and golangci-lint (config: .golangci.yml).
#
# Usage: scripts/lint.sh [packages...]     (default: ./...)
#
# bin/golangci-lint is built from the pinned tools module in tools/lint when
# it is missing or stale (its version or Go toolchain differs from the pin).
# Exits non-zero when either tool reports a finding.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
export PATH=$PATH:/usr/local/go/bin

lint=$PWD/bin/golangci-lint
want=$(cd tools/lint && go list -m -f '{{.Version}}' github.com/golangci/golangci-lint/v2)
want=${want#v}
if [ -z "$want" ]; then
	echo "lint: cannot find the golangci-lint pin in tools/lint/go.mod" >&2
	exit 2
fi
gover=$(go env GOVERSION)

stale=yes
if [ -x "$lint" ]; then
	have=$("$lint" version 2>/dev/null || true)
	case $have in
	*"version $want built with $gover "*) stale= ;;
	esac
fi
if [ -n "$stale" ]; then
	echo "lint: building golangci-lint v$want with $gover (tools/lint)" >&2
	mkdir -p bin
	(cd tools/lint && go build -trimpath -o "$lint" github.com/golangci/golangci-lint/v2/cmd/golangci-lint)
fi

if [ $# -eq 0 ]; then
	set -- ./...
fi

rc=0
echo "lint: go vet $*" >&2
go vet "$@" || rc=1
# The front rkt's own files (the rktfront build tag).
echo "lint: go vet -tags rktfront ./cmd/rkt ./internal/cli ./internal/rootfs" >&2
go vet -tags rktfront ./cmd/rkt ./internal/cli ./internal/rootfs || rc=1
# The light stage1 binary's own files (the stage1light build tag).
echo "lint: go vet -tags stage1light ./cmd/stage1-ns ./internal/stage1/ns" >&2
go vet -tags stage1light ./cmd/stage1-ns ./internal/stage1/ns || rc=1
echo "lint: golangci-lint run $*" >&2
"$lint" run "$@" || rc=1
exit $rc
