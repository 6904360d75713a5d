# shellcheck shell=bash
# Sourced first by every stub of the node-scripts harness (test/unit/node-scripts/harness.ts):
# records the call, then lets a test's own answer take over. The harness puts the stubs first on
# PATH, the real tools they may use in $PGHA_TEST_TOOLS and this directory in $PGHA_TEST_STUBS.
#   $PGHA_TEST_DIR/calls.log            every call: name, arguments (\x1f between, \x1e after)
#   $PGHA_TEST_DIR/answers/<name>       a test's answer for <name>: sourced with the arguments
#                                       instead of the stub's own behaviour, unless it sets
#                                       STUB_FALLTHROUGH=1 (then the stub carries on as usual)
STUB_NAME=${0##*/}
STUB_DIR=${PGHA_TEST_DIR:?this stub runs only under the node-scripts test harness}
# One write per call, so a test polling the log never reads half a record.
stub_record=$STUB_NAME
for stub_arg in "$@"; do stub_record+=$'\x1f'"$stub_arg"; done
printf '%s\x1e' "$stub_record" >> "$STUB_DIR/calls.log"

# stub_nth <key>: how many times stub_nth was called with <key> in this test, this call included
# ("fail the first two calls" answers count with it).
stub_nth() {
  local f="$STUB_DIR/counts/$1" n=0
  mkdir -p "$STUB_DIR/counts"
  [ -f "$f" ] && n=$(cat "$f")
  n=$((n + 1))
  echo "$n" > "$f"
  echo "$n"
}

STUB_FALLTHROUGH=0
if [ -f "$STUB_DIR/answers/$STUB_NAME" ]; then
  # shellcheck source=/dev/null
  . "$STUB_DIR/answers/$STUB_NAME" "$@"
  stub_status=$?
  [ "$STUB_FALLTHROUGH" = 1 ] || exit "$stub_status"
fi
