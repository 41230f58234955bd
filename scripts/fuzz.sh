#!/usr/bin/env bash
# Runs every fuzz target of the module, one at a time, for FUZZTIME each.
#
# Usage: scripts/fuzz.sh [regexp]      (only targets whose name matches)
#   FUZZTIME=30s   how long each target runs (any -fuzztime value: 10m, 5000x)
#
# Targets are found by grepping *_test.go files for `func FuzzXxx(`. A target
# that fails leaves its input in <package>/testdata/fuzz/FuzzXxx/; commit that
# file: plain `go test` (make unit) replays it from then on as a regression
# seed. The script goes on with the other targets and exits non-zero at the
# end if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
export PATH=$PATH:/usr/local/go/bin

fuzztime=${FUZZTIME:-30s}
filter=${1:-.}

# file:func lines, e.g. ./internal/rootfs/fuzz_test.go:FuzzApply
mapfile -t targets < <(
	find . \( -name '.?*' -o -name '_*' -o -name bin -o -name tools -o -name testdata -o -name vendor \) -prune \
		-o -type f -name '*_test.go' -print0 |
		xargs -0 -r grep -EHo '^func Fuzz[A-Za-z0-9_]*\(' |
		sed -E 's/:func (Fuzz[A-Za-z0-9_]*)\($/:\1/' | sort -u
)

failed=()
ran=0
for t in "${targets[@]}"; do
	file=${t%%:*}
	name=${t##*:}
	pkg=./$(dirname "${file#./}")
	if ! [[ $name =~ $filter ]]; then
		continue
	fi
	ran=$((ran + 1))
	echo "== $pkg $name ($fuzztime)"
	if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$pkg"; then
		failed+=("$pkg $name")
	fi
done

if [ "$ran" -eq 0 ]; then
	echo "fuzz: no fuzz targets matching '$filter'" >&2
	exit 1
fi
echo "fuzz: ran $ran target(s) for $fuzztime each"
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: FAILED:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	echo "fuzz: the failing inputs are under <package>/testdata/fuzz/<Target>/; commit them as regression seeds with the fix" >&2
	exit 1
fi
