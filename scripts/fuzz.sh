#!/usr/bin/env bash
# Runs every fuzz target in the module for FUZZTIME each (default 5s).
#
# go test accepts one -fuzz target per package and run, so each Fuzz
# function found in a _test.go file runs on its own. A target fails when it
# writes a failing input to testdata/fuzz/<target>/. Go 1.26's fuzz
# coordinator can also end a run with "context deadline exceeded" when
# -fuzztime expires while a worker is mid-input, without any failing input;
# such a run is reported and not counted as a failure.
set -euo pipefail

fuzztime=${FUZZTIME:-5s}
passed=0 failed=0 raced=0

dirs=$(grep -rl --include='*_test.go' -E '^func Fuzz' . | grep -v '^./.tools/' | xargs -n1 dirname | sort -u)
for dir in $dirs; do
	for target in $(grep -hoE '^func Fuzz[A-Za-z0-9_]+' "$dir"/*_test.go | cut -c6-); do
		corpus="$dir/testdata/fuzz/$target"
		before=$({ ls "$corpus" 2>/dev/null || true; } | wc -l)
		echo "fuzz $dir $target for $fuzztime"
		log=$(mktemp)
		if go test -run='^$' -fuzz="^$target\$" -fuzztime="$fuzztime" "$dir" >"$log" 2>&1; then
			passed=$((passed + 1))
			tail -n 3 "$log" | grep -E 'execs:' | tail -n 1 || true
		else
			after=$({ ls "$corpus" 2>/dev/null || true; } | wc -l)
			if [ "$after" -eq "$before" ] && grep -q 'context deadline exceeded' "$log"; then
				raced=$((raced + 1))
				echo "note: $target stopped with the fuzz coordinator's deadline race and wrote no failing input"
			else
				failed=$((failed + 1))
				cat "$log"
				echo "FAIL: $target; a failing input, if any, is in $corpus"
			fi
		fi
		rm -f "$log"
	done
done
if [ "$raced" -gt 0 ]; then echo "note: $raced target(s) stopped by the deadline race without a failing input"; fi
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
