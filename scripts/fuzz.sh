#!/usr/bin/env bash
# Fuzzes every Fuzz* target of the module, one after the other, and prints a
# table: target, time, executions, new interesting inputs, result.
#
#   scripts/fuzz.sh            # every target
#   FUZZ=Pull scripts/fuzz.sh  # the targets whose name matches a regexp
#   scripts/fuzz.sh -list      # the targets, without running them
#
# The targets are found, not listed: every func Fuzz* in a test file, so a
# new target is fuzzed without editing this file or the Makefile.
#
# Environment:
#   FUZZTIME      per target (go test -fuzztime): 1m
#   FUZZPARALLEL  workers per target (go test -parallel): GOMAXPROCS when empty
#   FUZZ          regexp the target names must match: all when empty
#   FUZZLOGS      folder for one log per target: a temporary one when empty
#   FUZZMINIMIZETIME  time spent shrinking each new input (go test
#                 -fuzzminimizetime): 5s. Go's default, 60 s, is spent on every
#                 new interesting input, by the only worker with -parallel 1:
#                 a target whose execution takes milliseconds did little else.
#
# A finding fails the run (after the other targets ran); go test writes the
# input under the package's testdata/fuzz/<Target>/, where go test replays it
# from then on.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-1m}
FUZZPARALLEL=${FUZZPARALLEL:-}
FUZZ=${FUZZ:-}
FUZZLOGS=${FUZZLOGS:-$(mktemp -d)}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-5s}
mkdir -p "$FUZZLOGS"

# "dir target" pairs: every func Fuzz*(f *testing.F) of a test file, read
# from the source (go test -list would build every test binary first).
targets() {
	grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
		sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#\1 \2#' | sort |
		while read -r dir name; do
			if [[ -z $FUZZ || $name =~ $FUZZ ]]; then
				echo "$dir $name"
			fi
		done
}

if [[ ${1:-} == -list ]]; then
	targets
	exit 0
fi

list=$(targets)
if [[ -z $list ]]; then
	echo "fuzz: no target matches ${FUZZ:-anything}" >&2
	exit 1
fi

failed=0
summary=()
while read -r dir name; do
	log="$FUZZLOGS/$name.log"
	echo "fuzz: $name ($dir) for $FUZZTIME; log: $log"
	start=$SECONDS
	result=ok
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" ${FUZZPARALLEL:+-parallel "$FUZZPARALLEL"} "$dir" >"$log" 2>&1; then
		result=FAILED
		failed=1
		grep -E 'Failing input written to|--- FAIL' "$log" || tail -20 "$log"
	fi
	# The last progress line: "fuzz: elapsed: 1m0s, execs: 123 (2/sec), new interesting: 4 (total: 11)".
	last=$(grep -E '^fuzz: elapsed: .*execs: ' "$log" | tail -1 || true)
	execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
	interesting=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
	summary+=("$(printf '%-24s %-22s %6ss %12s %8s  %s' "$name" "$dir" $((SECONDS - start)) "${execs:--}" "${interesting:--}" "$result")")
done <<<"$list"

printf '\n%-24s %-22s %7s %12s %8s  %s\n' target package time execs new result
printf '%s\n' "${summary[@]}"
exit $failed
