#!/usr/bin/python3
"""The cluster's own database passwords (superuser, replication, rewind) on the local server.

Run by pgha-secrets rotate as the postgres user, over the unix socket (peer authentication):

  credentials.py set SOCKET_DIR PORT     on the leader: give each role a SCRAM-SHA-256 verifier of
                                         its new password, only where the stored one does not
                                         verify it (refused on a standby)
  credentials.py verify SOCKET_DIR PORT  on any member: which roles' stored verifiers accept the
                                         given passwords (a standby answers from the pg_authid it
                                         replayed, so "true" there means the leader has it too)

The passwords arrive on stdin as JSON {role: password} and never appear in a statement or an
argument: the server gets a verifier computed here. Prints one JSON report on stdout —
set: {"ok": true, "changes": [...], "unchanged": N}; verify: {"ok": true, "verified": {role: bool}}
— and exits 1 on a failure, naming it.
"""
import json
import os
import sys

import psycopg2
from psycopg2 import sql

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from access import scram_verifier, verifies  # noqa: E402  (the same SCRAM code as the declared roles)


def stored_verifiers(cur, roles):
    cur.execute("select rolname, rolpassword from pg_authid where rolname = any(%s)", (list(roles),))
    return dict(cur.fetchall())


def main():
    if len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0
    if len(sys.argv) != 4 or sys.argv[1] not in ("set", "verify"):
        print("usage: credentials.py set|verify SOCKET_DIR PORT  (passwords as JSON on stdin)", file=sys.stderr)
        return 2
    mode, socket_dir, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    wanted = json.load(sys.stdin)
    changes, unchanged = [], 0
    try:
        conn = psycopg2.connect(host=socket_dir, port=port, dbname="postgres", user="postgres", application_name="pgha-secrets")
        conn.autocommit = True
        try:
            cur = conn.cursor()
            stored = stored_verifiers(cur, wanted.keys())
            missing = sorted(set(wanted) - set(stored))
            if missing:
                raise RuntimeError(f"no role {', '.join(missing)} on this server")
            if mode == "verify":
                print(json.dumps({"ok": True, "verified": {r: bool(stored[r]) and verifies(stored[r], p) for r, p in wanted.items()}}))
                return 0
            cur.execute("select pg_is_in_recovery()")
            if cur.fetchone()[0]:
                raise RuntimeError("this server is a standby: the cluster's passwords are set on the leader")
            for role, password in wanted.items():
                if stored[role] and verifies(stored[role], password):
                    unchanged += 1
                    continue
                cur.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(scram_verifier(password))))
                changes.append(f"set the password of {role} (SCRAM-SHA-256 verifier from the cluster secret)")
        finally:
            conn.close()
    except (psycopg2.Error, RuntimeError, ValueError) as e:
        print(json.dumps({"ok": False, "error": str(e).strip(), "changes": changes, "unchanged": unchanged}))
        return 1
    print(json.dumps({"ok": True, "changes": changes, "unchanged": unchanged}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
