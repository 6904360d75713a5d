# shellcheck shell=bash
# The fake block layer the disk stubs share: a device <name> is the file $PGHA_INSTALL_ROOT/dev/
# <name> (the harness makes them, and the /dev/disk/by-id links udev would); what is on it lives
# in $PGHA_TEST_DIR/disks/<name>: "type=…" and "label=…" lines (no file: nothing on it).
DISKS=$PGHA_TEST_DIR/disks
mkdir -p "$DISKS"
disk_get() { # <device path> <type|label>
  local f=$DISKS/${1##*/}
  [ -f "$f" ] && sed -n "s/^$2=//p" "$f"
}
