#!/usr/bin/env bash
# Measures test coverage and names the packages below COVER_MIN percent.
#
# Usage: scripts/cover.sh
#   COVERDIR=bin/cover   where the profiles go
#   COVER_MIN=70         per-package threshold (percent of statements)
#   COVER_STRICT=1       exit 1 when a package is below COVER_MIN
#
# 1. Unit tests: go test -coverpkg=./... over ./internal/... ./cmd/..., so a
#    package is credited for statements that other packages' tests run.
# 2. End-to-end tests, only as root and only when test/e2e has Go files:
#    rkt and the stage1 image beside it are built with -cover into $COVERDIR/bin,
#    rkt is used as RKT_BINARY, each run of rkt and of its stage1 processes
#    writes counters into $GOCOVERDIR, and `go tool covdata textfmt` turns
#    them into a profile.
# 3. The profiles are concatenated (go tool cover merges repeated blocks),
#    then summarised per package from the statement counts in the profile;
#    `go tool cover -func` gives the per-function detail and the total.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
export PATH=$PATH:/usr/local/go/bin

out=${COVERDIR:-bin/cover}
min=${COVER_MIN:-70}
rm -rf "$out"
mkdir -p "$out"
rc=0

echo "== unit tests with coverage" >&2
if ! go test -count=1 -covermode=atomic -coverpkg=./... -coverprofile="$out/unit.out" ./internal/... ./cmd/... >"$out/unit.log" 2>&1; then
	echo "cover: unit tests failed (see $out/unit.log); coverage below is partial" >&2
	tail -20 "$out/unit.log" >&2
	rc=1
fi
profiles=("$out/unit.out")

if [ "$(id -u)" -eq 0 ] && [ -n "$(find test/e2e -name '*.go' -print -quit 2>/dev/null)" ]; then
	echo "== end-to-end tests with a -cover build of rkt" >&2
	covdata=$PWD/$out/e2e-covdata
	mkdir -p "$covdata"
	# rkt and its stage1 built with -cover, side by side (rkt finds the
	# stage1 image beside itself); every stage1 process gets GOCOVERDIR.
	cbin=$PWD/$out/bin
	mkdir -p "$cbin"
	go build -cover -covermode=atomic -coverpkg=./... -o "$cbin/rkt" ./cmd/rkt
	CGO_ENABLED=0 go build -cover -covermode=atomic -coverpkg=./... -o "$cbin/stage1-ns" ./cmd/stage1-ns
	# The light build for the run entrypoint, as make build has it.
	CGO_ENABLED=0 go build -cover -covermode=atomic -coverpkg=./... -tags stage1light -o "$cbin/stage1-ns-run" ./cmd/stage1-ns
	go run ./tools/mkstage1 -flavor ns -binary "$cbin/stage1-ns" -run-binary "$cbin/stage1-ns-run" -version cover -o "$cbin/stage1-ns.aci"
	if ! RKT_BINARY=$cbin/rkt GOCOVERDIR=$covdata \
		go test -count=1 -timeout 20m ./test/e2e/... >"$out/e2e.log" 2>&1; then
		echo "cover: end-to-end tests failed (see $out/e2e.log); coverage below is partial" >&2
		tail -20 "$out/e2e.log" >&2
		rc=1
	fi
	if [ -n "$(ls -A "$covdata")" ]; then
		go tool covdata percent -i="$covdata" >&2 || true
		go tool covdata textfmt -i="$covdata" -o "$out/e2e.out"
		profiles+=("$out/e2e.out")
	else
		echo "cover: the e2e run left no counters in $covdata (does the harness pass GOCOVERDIR to rkt?)" >&2
	fi
else
	echo "== end-to-end tests skipped (need root and Go files in test/e2e)" >&2
fi

# Merge: one mode line, then every block of every profile.
for p in "${profiles[@]}"; do
	[ -s "$p" ] || continue
	tail -n +2 "$p"
done | { echo "mode: atomic"; cat; } >"$out/merged.out"

go tool cover -func="$out/merged.out" >"$out/func.txt"
echo "== per-function detail in $out/func.txt; HTML: go tool cover -html=$out/merged.out" >&2

# Per package: a block counts as covered if any profile ran it; a package's
# percentage is covered statements / all statements in its files.
echo
awk -v min="$min" '
NR == 1 { next }   # mode line
{
	split($1, loc, ":"); file = loc[1]; key = $1
	if (!(key in stmts)) { stmts[key] = $2; pkgof[key] = file }
	if ($3 > 0) hit[key] = 1
}
END {
	for (k in stmts) {
		f = pkgof[k]; sub(/\/[^\/]*$/, "", f)
		total[f] += stmts[k]; all += stmts[k]
		if (k in hit) { cov[f] += stmts[k]; allcov += stmts[k] }
	}
	n = 0
	for (p in total) names[++n] = p
	# insertion sort: awk has no portable sort
	for (i = 2; i <= n; i++) { v = names[i]; for (j = i - 1; j > 0 && names[j] > v; j--) names[j + 1] = names[j]; names[j + 1] = v }
	printf "%-50s %8s %7s\n", "package", "stmts", "cover"
	low = ""
	for (i = 1; i <= n; i++) {
		p = names[i]; pct = total[p] ? 100 * cov[p] / total[p] : 100
		printf "%-50s %8d %6.1f%%\n", p, total[p], pct
		if (pct < min) low = low "  " p sprintf(" (%.1f%%)", pct) "\n"
	}
	printf "%-50s %8d %6.1f%%\n", "total", all, all ? 100 * allcov / all : 100
	if (low != "") { printf "\npackages under %s%%:\n%s", min, low; exit 3 }
	printf "\nno package under %s%%\n", min
}' "$out/merged.out" || {
	s=$?
	if [ "$s" -ne 3 ]; then exit "$s"; fi
	if [ "${COVER_STRICT:-}" = 1 ]; then rc=1; fi
}
grep '^total:' "$out/func.txt" | sed 's/^/go tool cover -func /'
exit $rc
