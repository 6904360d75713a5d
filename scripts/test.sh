#!/usr/bin/env bash
# `npm test`: the whole suite — type check, unit, Pulumi program (mocks), policies, and the
# integration tests that boot real hosts (they start their own sandbox and remove it after).
#
# The offline part (type check, unit, program, policies: no hosts) runs beside the integration
# tests at idle CPU priority (SCHED_IDLE, nice 19): it gets only the CPU time the hosts and the
# integration tests leave unused, so it cannot stretch a failover or an alert delay they measure,
# and the run is shorter by its length (about 8 of CI's minutes). Its output follows the
# integration tests' output. PGHA_TEST_SERIAL=1 runs the two one after the other instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-machine.sh

offline() {
  echo "== type check" >&2
  npx tsc --noEmit -p .
  echo "== unit, program, policies" >&2
  npx jest --selectProjects unit program policies --silent --maxWorkers=2
}
integration() {
  echo "== integration (real hosts)" >&2
  # --verbose: each test's duration in the log, the figures a CI-time budget is cut by.
  npx jest --selectProjects integration --runInBand --forceExit --verbose "$@"
}

if [ "${PGHA_TEST_SERIAL:-0}" = 1 ]; then
  offline
  integration "$@"
  exit 0
fi

log=$(mktemp /tmp/pgha-offline.XXXXXX)
idle=(nice -n 19)
chrt --idle 0 true 2>/dev/null && idle=(chrt --idle 0 nice -n 19)
( set +e; export -f offline; "${idle[@]}" bash -c 'set -euo pipefail; offline' > "$log" 2>&1; echo "$?" > "$log.rc" ) &
offline_pid=$!
trap 'kill "$offline_pid" 2>/dev/null || true' EXIT
echo "== type check, unit, program, policies: running beside the integration tests at idle priority (pid $offline_pid)" >&2

set +e
integration "$@"
integration_rc=$?
wait "$offline_pid"
set -e
trap - EXIT
offline_rc=$(cat "$log.rc" 2>/dev/null || echo 1)
echo "== type check, unit, program, policies (ran beside the integration tests): exit $offline_rc" >&2
cat "$log" >&2
rm -f "$log" "$log.rc"
echo "== integration: exit $integration_rc; type check, unit, program, policies: exit $offline_rc" >&2
[ "$integration_rc" = 0 ] && [ "$offline_rc" = 0 ]
