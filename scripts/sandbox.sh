#!/usr/bin/env bash
# `npm run sandbox`: install what is needed, bring up the prod-shaped sandbox cluster in the
# background, wait until it is healthy, print its status and return.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-machine.sh
exec node bin/pgha sandbox up --stack "${PGHA_STACK:-prod}" "$@"
