#!/usr/bin/env bash
# Prepares this machine (Debian/Ubuntu, as root) for the sandbox and the tests: the host tools
# from apt, the npm dependencies, and the Debian 13 image the sandbox hosts boot from.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[setup %5ss] %s\n' "$SECONDS" "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  echo "setup-machine.sh: run as root (the sandbox creates network namespaces and boots hosts with systemd-nspawn)" >&2
  exit 1
fi

# Host tools: debootstrap builds the image, systemd-nspawn boots hosts, nftables injects
# network faults, shellcheck validates the rendered scripts, psql talks to the cluster, headless
# Chromium renders the monitoring node's page (its test and `sandbox page --screenshot`).
packages=(debootstrap systemd-container nftables iptables iproute2 util-linux procps shellcheck
          postgresql-client openssl jq curl ca-certificates chromium fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq -o Acquire::Retries=3 >/dev/null 2>&1 || apt-get update -qq -o Acquire::Retries=3 || true
  apt-get install -y -qq --no-install-recommends -o Acquire::Retries=3 "${missing[@]}" >/dev/null
fi

# npm dependencies, exactly as locked (reinstalled only when the lockfile changed).
stamp=node_modules/.pgha-lock-sha
want=$(sha256sum package-lock.json | cut -c1-64)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
# npm trusts its hidden lockfile (node_modules/.package-lock.json) only while node_modules/ is not
# newer; creating the stamp above made it newer, and then every `npx pgha` read each installed
# package.json first (≈ 0.5 s a call). When that creation is node_modules/' last change, undo it.
if [ -f node_modules/.package-lock.json ] && [ ! node_modules -nt "$stamp" ] && [ ! "$stamp" -nt node_modules ]; then
  touch -r node_modules/.package-lock.json node_modules
fi

# The compiled CLI (dist/): npm ci builds it; after a pull without a lockfile change it may lag.
node scripts/build.js --if-stale || log "the build reported errors (above); the type check below says more"

# The Debian 13 image (cached by the hash of its package list and build script).
mkdir -p "${PGHA_ROOT:-/var/lib/pgha}/images"
log "Debian 13 image"
image=$(sandbox/build-image.sh "${PGHA_ROOT:-/var/lib/pgha}/images")
log "image ready: $image"
# The current image by a stable name: the unit tests run its promtool on the rendered alert rules.
ln -sfn "$image" "${PGHA_ROOT:-/var/lib/pgha}/images/current"
