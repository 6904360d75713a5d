#!/usr/bin/env bash
# `npm test`: the whole suite — type check, unit, Pulumi program (mocks), policies, and the
# integration tests that boot real hosts (they start their own sandbox and remove it after).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-machine.sh
echo "== type check" >&2
npx tsc --noEmit -p .
echo "== unit, program, policies" >&2
npx jest --selectProjects unit program policies --silent --maxWorkers=2
echo "== integration (real hosts)" >&2
npx jest --selectProjects integration --runInBand --forceExit "$@"
