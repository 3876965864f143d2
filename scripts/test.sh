#!/usr/bin/env bash
# make test's runs, after the checks: every package's tests; then the end-to-end tests, alone
# (seven real-time decoders of a 2.5 Mbit/s stream fill this machine's two cores by
# themselves); and, beside both from the start, the ten-minute publish of time-shift, which
# waits on the clock, not on the CPU. Its output lands in artifacts/timeshift.log.
set -uo pipefail
GO=${GO:-go}
mkdir -p artifacts
set -m # the ten-minute run in a process group of its own, so that a failure stops all of it
"$GO" test -count=1 -timeout 30m ./internal/e2e/timeshift >artifacts/timeshift.log 2>&1 &
beside=$!
set +m
fail() {
	kill -- -"$beside" 2>/dev/null
	exit 1
}
RELAYCAST_ARTIFACTS="$PWD/artifacts" "$GO" test -race -count=1 -timeout 25m $("$GO" list ./... | grep -v /internal/e2e) || fail
"$GO" test -race -count=1 -timeout 25m ./internal/e2e || fail
echo "waiting for the ten-minute publish (artifacts/timeshift.log)"
wait "$beside"
status=$?
cat artifacts/timeshift.log
exit $status
