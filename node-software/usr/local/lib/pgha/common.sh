# shellcheck shell=bash
# postgres-ha node library: sourced by every pgha-* script on a node. One place for the node's
# facts (node.env), logging, errors, usage text, the Patroni REST API and AWS calls.
#
# The scripts are static files (node-software/ in the repository), the same on every node and
# in the sandbox; what differs per node is /etc/pgha/node.env (rendered, part of the node's
# bundle) and /etc/pgha/aws.env (written by the bootstrap user-data: region, and in the
# sandbox the endpoints of the local AWS API implementations).

# ROOT: where the node's file system starts, empty on a node. The shell tests (test/unit/node-
# scripts) set PGHA_INSTALL_ROOT to a temporary directory: every path of the node's file system a
# script reads, writes, creates or runs (/etc, /var, /run, /dev, /usr/local…) is written
# "$ROOT/…", so the tests run the very code a node runs against a fake root, without root.
ROOT=${PGHA_INSTALL_ROOT:-}
PGHA_NODE_ENV=${PGHA_NODE_ENV:-$ROOT/etc/pgha/node.env}
PGHA_AWS_ENV=${PGHA_AWS_ENV:-$ROOT/etc/pgha/aws.env}
PGHA_LOCK_DIR=${PGHA_LOCK_DIR:-$ROOT/run/lock}

# pgha_load_env [--optional]: the node's facts; a missing node.env is an error unless optional
# (the bootstrap runs before the first bundle is installed).
pgha_load_env() {
  if [ -r "$PGHA_NODE_ENV" ]; then
    # shellcheck source=/dev/null
    . "$PGHA_NODE_ENV"
  elif [ "${1:-}" != --optional ]; then
    echo "${PGHA_PROG:-pgha}: $PGHA_NODE_ENV is missing: this node has no postgres-ha bundle installed (run pgha-node apply)" >&2
    exit 1
  fi
  PGHA_LOG_DIR=${PGHA_LOG_DIR:-/var/log/pgha}
}

# pgha_log <message…>: one line to stderr, to the script's log file if set ($PGHA_LOG_FILE) and
# to the journal (tag = script name).
pgha_log() {
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) [${PGHA_NODE:-?}] $*"
  if [ -n "${PGHA_LOG_FILE:-}" ]; then { echo "$line" >> "$PGHA_LOG_FILE"; } 2>/dev/null || true; fi
  echo "[${PGHA_PROG:-pgha}] $line" >&2
  logger -t "${PGHA_PROG:-pgha}" -- "$*" 2>/dev/null || true
}

# pgha_die <status> <message…>: log and exit with status (2 usage/refused, 1 failed, 3 busy).
pgha_die() {
  local status=$1
  shift
  pgha_log "$*"
  exit "$status"
}

# pgha_usage [status]: print the script's leading comment block (its usage text) and exit.
pgha_usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

# pgha_wants_help <args…>: true when the first argument asks for help.
pgha_wants_help() {
  case "${1:-}" in -h|--help|help) return 0 ;; *) return 1 ;; esac
}

# REST API of the local Patroni (TLS with the node's client certificate when TLS is on).
pgha_rest_args() {
  PGHA_REST_ARGS=(--silent --show-error --max-time "${PGHA_REST_TIMEOUT:-10}")
  if [ "${PGHA_TLS:-false}" = true ]; then
    PGHA_REST_ARGS+=(--cacert "$ROOT$PGHA_TLS_DIR/ca.crt" --cert "$ROOT$PGHA_TLS_DIR/node.crt" --key "$ROOT$PGHA_TLS_DIR/node.key")
  fi
}
# pgha_rest_json <path>: the JSON body of GET <path>; fails on an HTTP error.
pgha_rest_json() {
  pgha_rest_args
  curl "${PGHA_REST_ARGS[@]}" --fail "$PGHA_REST_URL/$1"
}
# pgha_rest_status <path>: the HTTP status of GET <path> ("000" when nothing answers).
pgha_rest_status() {
  pgha_rest_args
  curl "${PGHA_REST_ARGS[@]}" -o /dev/null -w '%{http_code}' "$PGHA_REST_URL/$1" 2>/dev/null || true
}
# pgha_rest_write <method> <path>: an unsafe call (basic auth from a 0600 curl config), body on stdin.
pgha_rest_write() {
  pgha_rest_args
  curl "${PGHA_REST_ARGS[@]}" --fail -K "$ROOT/etc/pgha/restapi.curlrc" -X "$1" -H 'Content-Type: application/json' \
    --data-binary @- "$PGHA_REST_URL/$2"
}

# pgha_aws <aws args…>: awscli with the node's AWS environment (region; in the sandbox the local
# endpoints, their CA and static credentials). On EC2 credentials come from the instance role.
pgha_aws() {
  (
    set -a
    # shellcheck source=/dev/null
    if [ -r "$PGHA_AWS_ENV" ]; then . "$PGHA_AWS_ENV"; fi
    set +a
    exec aws "$@"
  )
}

# pgha_repo_info [pgbackrest options…]: `pgbackrest … --output=json info`, bounded in time.
# pgBackRest 2.55 retries a refused connection to the repository without end (pgbackrest issue
# #2654): with the S3 endpoint down, an unbounded `info` hangs every caller (validate, window,
# the backup jobs). PGHA_REPO_TIMEOUT_SECONDS (default 90, above pgBackRest's io-timeout of 60)
# turns that into a failure the caller reports.
pgha_repo_info() {
  timeout --kill-after=5 "${PGHA_REPO_TIMEOUT_SECONDS:-90}" pgbackrest --stanza="$PGHA_STANZA" "$@" --output=json info
}

# pgha_repo_args <repo>: the pgBackRest options that select a repository. 1: the stack's own
# (pgbackrest.conf, the default); 2: the second region's copy (backup.secondRepository), read
# with its own configuration file — the secrets in conf.d apply to it too; 3: restoreFrom's
# source, another cluster's repository, with its own configuration and secrets.
pgha_repo_args() {
  case "$1" in
    1) ;;
    2)
      [ -n "${PGHA_SECOND_REGION_CONF:-}" ] || { echo "repository 2 needs backup.secondRepository (this cluster has one region)" >&2; return 2; }
      echo "--config=$ROOT$PGHA_SECOND_REGION_CONF"
      echo "--config-include-path=$ROOT/etc/pgbackrest/conf.d" ;;
    3)
      # restoreFrom: the source cluster's repository (read-only), with the source's passphrase.
      [ -n "${PGHA_RESTORE_SOURCE_CONF:-}" ] || { echo "repository 3 is restoreFrom's source, and this cluster has none" >&2; return 2; }
      echo "--config=$ROOT$PGHA_RESTORE_SOURCE_CONF"
      echo "--config-include-path=$ROOT$PGHA_RESTORE_SOURCE_SECRETS_DIR" ;;
    *) echo "no repository $1 (1, or 2 with backup.secondRepository)" >&2; return 2 ;;
  esac
}

# pgha_repo_reachable <repo>: 0 when repository <repo> answers a listing within
# PGHA_REPO_PROBE_SECONDS (default 30). pgBackRest 2.55 retries a refused connection without end,
# so a command against a repository whose region's S3 is gone would hang: callers probe first.
pgha_repo_reachable() {
  local args
  mapfile -t args < <(pgha_repo_args "$1") || return 2
  timeout --kill-after=5 "${PGHA_REPO_PROBE_SECONDS:-30}" pgbackrest "${args[@]}" --stanza="$PGHA_STANZA" repo-ls >/dev/null 2>&1
}

# pgha_s3_put_args: extra arguments for uploads (SSE-KMS under the cluster key on EC2).
pgha_s3_put_args() {
  PGHA_S3_PUT_ARGS=(--only-show-errors)
  if [ -n "${PGHA_S3_SSE_KMS_KEY:-}" ]; then PGHA_S3_PUT_ARGS+=(--sse aws:kms --sse-kms-key-id "$PGHA_S3_SSE_KMS_KEY"); fi
}

# pgha_retry <tries> <first delay s> <command…>: retries with doubling delays (capped at 30 s).
pgha_retry() {
  local tries=$1 delay=$2 i
  shift 2
  for ((i = 1; ; i++)); do
    if "$@"; then return 0; fi
    if [ "$i" -ge "$tries" ]; then return 1; fi
    sleep "$delay"
    delay=$((delay * 2 > 30 ? 30 : delay * 2))
  done
}

# pgha_retry_for <seconds> <first delay s> <command…>: the same backoff, for a time: gives up once
# the delays add up to <seconds> (the last one shortened to fit); 0 tries once.
pgha_retry_for() {
  local budget=$1 delay=$2 waited=0
  shift 2
  while ! "$@"; do
    [ "$waited" -lt "$budget" ] || return 1
    [ $((waited + delay)) -le "$budget" ] || delay=$((budget - waited))
    sleep "$delay"
    waited=$((waited + delay))
    delay=$((delay * 2 > 30 ? 30 : delay * 2))
  done
}

# pgha_write_file <path> <owner> <mode>: stdin → path, atomically (same directory, rename).
# Returns 0 when the file changed, 1 when it was already identical, 2 when writing failed.
pgha_write_file() {
  local tmp
  tmp=$(mktemp "$1.XXXXXX") || return 2
  if ! cat > "$tmp" || ! chown "$2" "$tmp" || ! chmod "$3" "$tmp"; then rm -f "$tmp"; return 2; fi
  if [ -f "$1" ] && cmp -s "$tmp" "$1" && [ "$(stat -c '%U:%G %a' "$1")" = "$(stat -c '%U:%G %a' "$tmp")" ]; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$1" || { rm -f "$tmp"; return 2; }
  return 0
}

# pgha_job_result <job> <exit status> <started, epoch s>: the outcome of a node job (a backup, a
# logical dump, a drill) for node-exporter's textfile collector, in
# $PGHA_METRICS_DIR/pgha_job_<job>.prom: when it last ended, its exit status and duration, and
# when it last succeeded (kept from the previous file while it fails). A cron job's exit status
# is otherwise lost; this is what the job-failed and backup-age alerts read. Never fails the job.
pgha_job_result() {
  local job=$1 status=$2 started=$3 f now success=""
  f="${ROOT:-}${PGHA_METRICS_DIR:-}/pgha_job_${job//-/_}.prom"
  now=$(date +%s)
  success=$(awk '$1 ~ /^pgha_job_last_success_timestamp_seconds/ {print $2}' "$f" 2>/dev/null || true)
  [ "$status" != 0 ] || success=$now
  {
    echo "# HELP pgha_job_last_run_timestamp_seconds When a postgres-ha node job last ended (epoch seconds)."
    echo "# TYPE pgha_job_last_run_timestamp_seconds gauge"
    echo "pgha_job_last_run_timestamp_seconds{kind=\"$job\"} $now"
    echo "# HELP pgha_job_last_exit_status The exit status of a postgres-ha node job's last run (0 succeeded)."
    echo "# TYPE pgha_job_last_exit_status gauge"
    echo "pgha_job_last_exit_status{kind=\"$job\"} $status"
    echo "# HELP pgha_job_last_duration_seconds How long a postgres-ha node job's last run took."
    echo "# TYPE pgha_job_last_duration_seconds gauge"
    echo "pgha_job_last_duration_seconds{kind=\"$job\"} $((now - started))"
    if [ -n "$success" ]; then
      echo "# HELP pgha_job_last_success_timestamp_seconds When a postgres-ha node job last succeeded on this node (epoch seconds)."
      echo "# TYPE pgha_job_last_success_timestamp_seconds gauge"
      echo "pgha_job_last_success_timestamp_seconds{kind=\"$job\"} $success"
    fi
  } | pgha_metric_file "pgha_job_${job//-/_}"
}

# pgha_metric_file <name>: stdin → $PGHA_METRICS_DIR/<name>.prom for node-exporter's textfile
# collector, written by the caller's user into a temporary file renamed over the old one (a scrape
# never reads half a file). Never fails its caller: metrics must not break a job.
pgha_metric_file() {
  local dir="${ROOT:-}${PGHA_METRICS_DIR:-}" f
  if [ -z "${PGHA_METRICS_DIR:-}" ] || [ ! -d "$dir" ] || [ ! -w "$dir" ]; then cat >/dev/null; return 0; fi
  f="$dir/$1.prom"
  cat > "$f.$$.tmp" 2>/dev/null || { rm -f "$f.$$.tmp"; return 0; }
  if ! { chmod 0644 "$f.$$.tmp" && mv -f "$f.$$.tmp" "$f"; }; then rm -f "$f.$$.tmp"; fi
  return 0
}

# pgha_apply_extra_hosts: replace our marked block in /etc/hosts with /etc/pgha/hosts (names
# the layout adds: in the sandbox, node and service names; EC2 uses the private DNS zone).
pgha_apply_extra_hosts() {
  [ -s "$ROOT/etc/pgha/hosts" ] || return 0
  local tmp
  tmp=$(mktemp) || return 1
  sed '/^# BEGIN postgres-ha$/,/^# END postgres-ha$/d' "$ROOT/etc/hosts" > "$tmp"
  { echo "# BEGIN postgres-ha"; cat "$ROOT/etc/pgha/hosts"; echo "# END postgres-ha"; } >> "$tmp"
  cat "$tmp" > "$ROOT/etc/hosts"
  rm -f "$tmp"
}
