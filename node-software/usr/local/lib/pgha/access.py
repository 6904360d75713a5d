#!/usr/bin/python3
"""Applies the access declaration (/etc/pgha/access.json) to the PostgreSQL server it connects to.

Run by pgha-access (as the postgres user, on the leader): the declaration is argv[1], the login
roles' passwords arrive on stdin as JSON {role: password} and never appear in a statement: the
server gets a SCRAM-SHA-256 verifier computed here, and only when the stored one does not verify
the password. Every statement is idempotent; what was created carries the declaration's marker
(a COMMENT), and only marked roles are ever dropped. Prints one JSON report on stdout:
{"changes": [...], "unchanged": N, "warnings": [...]}; exits 1 on a failure, naming it.
"""
import base64
import hashlib
import hmac
import json
import os
import sys

import psycopg2
from psycopg2 import sql

SCRAM_ITERATIONS = 4096
TABLE_PRIVILEGES = {"readOnly": ["SELECT"], "readWrite": ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"]}
SEQUENCE_PRIVILEGES = {"readOnly": ["SELECT"], "readWrite": ["USAGE", "SELECT", "UPDATE"]}
RANK = {None: 0, "readOnly": 1, "readWrite": 2, "owner": 3}


def scram_keys(password, salt, iterations):
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def scram_verifier(password):
    salt = os.urandom(16)
    stored_key, server_key = scram_keys(password, salt, SCRAM_ITERATIONS)
    b64 = lambda b: base64.b64encode(b).decode()
    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def verifies(stored, password):
    """Whether a stored SCRAM-SHA-256 verifier (pg_authid.rolpassword) accepts the password."""
    try:
        method, rest = stored.split("$", 1)
        iter_salt, keys = rest.split("$", 1)
        iterations, salt = iter_salt.split(":", 1)
        stored_key, server_key = keys.split(":", 1)
        if method != "SCRAM-SHA-256":
            return False
        want = scram_keys(password, base64.b64decode(salt), int(iterations))
        return hmac.compare_digest(want[0], base64.b64decode(stored_key)) and hmac.compare_digest(want[1], base64.b64decode(server_key))
    except (ValueError, AttributeError):
        return False


class Applier:
    def __init__(self, declaration, passwords, socket_dir, port):
        self.d = declaration
        self.passwords = passwords
        self.socket_dir = socket_dir
        self.port = port
        self.changes = []
        self.warnings = []
        self.unchanged = 0

    def connect(self, dbname):
        conn = psycopg2.connect(host=self.socket_dir, port=self.port, dbname=dbname, user="postgres", application_name="pgha-access")
        conn.autocommit = True
        return conn

    def run(self, cur, statement, args=None):
        cur.execute(statement, args)
        query = cur.query
        self.changes.append(query.decode() if isinstance(query, bytes) else str(query))

    def one(self, cur, query, args=None):
        cur.execute(query, args)
        return cur.fetchone()

    # --- roles
    def roles(self, cur):
        marker = self.d["marker"]
        for r in self.d["roles"]:
            name = sql.Identifier(r["name"])
            row = self.one(cur, "select rolcanlogin, rolconnlimit, rolsuper or rolcreaterole or rolcreatedb or rolreplication or rolbypassrls, rolpassword from pg_authid where rolname = %s", (r["name"],))
            attrs = sql.SQL("{} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT {}").format(
                sql.SQL("LOGIN" if r["login"] else "NOLOGIN"), sql.Literal(r["connectionLimit"]))
            if row is None:
                self.run(cur, sql.SQL("CREATE ROLE {} WITH {}").format(name, attrs))
                self.run(cur, sql.SQL("COMMENT ON ROLE {} IS {}").format(name, sql.Literal(marker)))
                stored = None
            else:
                login, limit, powers, stored = row
                if login != r["login"] or limit != r["connectionLimit"] or powers:
                    self.run(cur, sql.SQL("ALTER ROLE {} WITH {}").format(name, attrs))
                else:
                    self.unchanged += 1
            if r["login"]:
                wanted = self.passwords.get(r["name"])
                if not wanted:
                    raise RuntimeError(f"no password for login role {r['name']} (its secret {r.get('secret')} was not read)")
                if stored and verifies(stored, wanted):
                    self.unchanged += 1
                else:
                    cur.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(name, sql.Literal(scram_verifier(wanted))))
                    self.changes.append(f"set the password of {r['name']} (SCRAM-SHA-256 verifier from its secret, version {r.get('passwordVersion')})")
        for r in self.d["roles"]:
            for group in r["memberOf"]:
                member = self.one(cur, "select 1 from pg_auth_members m join pg_roles g on g.oid = m.roleid join pg_roles u on u.oid = m.member where g.rolname = %s and u.rolname = %s", (group, r["name"]))
                if member:
                    self.unchanged += 1
                else:
                    self.run(cur, sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(r["name"])))

    # --- the metrics role
    def monitor(self, cur):
        name = self.d.get("monitorRole")
        if not name:
            return
        ident = sql.Identifier(name)
        attrs = sql.SQL("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT 3 PASSWORD NULL")
        row = self.one(cur, "select rolcanlogin, rolpassword is null, not (rolsuper or rolcreaterole or rolcreatedb or rolreplication or rolbypassrls), rolconnlimit from pg_authid where rolname = %s", (name,))
        if row is None:
            self.run(cur, sql.SQL("CREATE ROLE {} WITH {}").format(ident, attrs))
            self.run(cur, sql.SQL("COMMENT ON ROLE {} IS {}").format(ident, sql.Literal(self.d["marker"])))
        elif row != (True, True, True, 3):
            self.run(cur, sql.SQL("ALTER ROLE {} WITH {}").format(ident, attrs))
        else:
            self.unchanged += 1
        if self.one(cur, "select 1 from pg_auth_members m join pg_roles g on g.oid = m.roleid join pg_roles u on u.oid = m.member where g.rolname = 'pg_monitor' and u.rolname = %s", (name,)):
            self.unchanged += 1
        else:
            self.run(cur, sql.SQL("GRANT pg_monitor TO {}").format(ident))

    # --- databases
    def databases(self, cur):
        marker = self.d["marker"]
        for db in self.d["databases"]:
            row = self.one(cur, "select pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datlocprovider, datcollate, datlocale from pg_database where datname = %s", (db["name"],))
            name = sql.Identifier(db["name"])
            locale = db["locale"]
            if row is None:
                if locale.startswith("icu:"):
                    where = sql.SQL("LOCALE_PROVIDER icu ICU_LOCALE {} LOCALE 'C.UTF-8'").format(sql.Literal(locale[4:]))
                else:
                    where = sql.SQL("LOCALE_PROVIDER libc LOCALE {}").format(sql.Literal(locale))
                self.run(cur, sql.SQL("CREATE DATABASE {} OWNER {} ENCODING {} {} TEMPLATE template0").format(name, sql.Identifier(db["owner"]), sql.Literal(db["encoding"]), where))
                self.run(cur, sql.SQL("COMMENT ON DATABASE {} IS {}").format(name, sql.Literal(marker)))
                # A declared database admits the roles granted on it, not every role (PUBLIC).
                self.run(cur, sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(name))
                continue
            owner, encoding, provider, collate, icu = row
            have_locale = f"icu:{icu}" if provider == "i" else collate
            if encoding != db["encoding"] or have_locale != locale:
                self.warnings.append(f"database {db['name']} exists with encoding {encoding} and locale {have_locale}; the config says {db['encoding']} and {locale}, which only a new database can have (dump, create, restore)")
            if owner != db["owner"]:
                self.run(cur, sql.SQL("ALTER DATABASE {} OWNER TO {}").format(name, sql.Identifier(db["owner"])))
            else:
                self.unchanged += 1

    def in_database(self, db):
        """Extensions and grants inside one database (its own connection)."""
        conn = self.connect(db["name"])
        try:
            cur = conn.cursor()
            for ext in db["extensions"]:
                if self.one(cur, "select 1 from pg_extension where extname = %s", (ext,)):
                    self.unchanged += 1
                else:
                    self.run(cur, sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))
            owner = sql.Identifier(db["owner"])
            for r in self.d["roles"]:
                if r["name"] == db["owner"]:
                    continue  # the owner has every right on its database already
                level = next((g["level"] for g in r["grants"] if g["database"] == db["name"]), None)
                self.grant(cur, db, r, level, owner)
        finally:
            conn.close()

    def grant(self, cur, db, r, level, owner):
        role, dbname = sql.Identifier(r["name"]), sql.Identifier(db["name"])
        has = lambda q, *a: bool(self.one(cur, q, a)[0])
        connect = has("select has_database_privilege(%s, %s, 'CONNECT')", r["name"], db["name"])
        if level is None:
            # Not granted here: a role this program created keeps no access it once had.
            if connect and self.marked(cur, r["name"]) and has("select exists (select 1 from pg_database d, aclexplode(d.datacl) a where d.datname = %s and a.grantee = %s::regrole)", db["name"], r["name"]):
                self.run(cur, sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM {}").format(dbname, role))
                self.revoke_tables(cur, role, owner, "readWrite")
            return
        if not connect:
            self.run(cur, sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(dbname, role))
        if level == "owner":
            if not has("select pg_has_role(%s, %s, 'MEMBER')", r["name"], db["owner"]):
                self.run(cur, sql.SQL("GRANT {} TO {}").format(owner, role))
            return
        if has("select pg_has_role(%s, %s, 'MEMBER')", r["name"], db["owner"]) and self.marked(cur, r["name"]):
            self.run(cur, sql.SQL("REVOKE {} FROM {}").format(owner, role))
        if level == "readOnly":
            self.revoke_tables(cur, role, owner, "readWrite", keep=TABLE_PRIVILEGES["readOnly"], keep_seq=SEQUENCE_PRIVILEGES["readOnly"])
        if not has("select has_schema_privilege(%s, 'public', 'USAGE')", r["name"]):
            self.run(cur, sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
        tables, seqs = TABLE_PRIVILEGES[level], SEQUENCE_PRIVILEGES[level]
        missing = self.one(cur, "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and case when c.relkind in ('r','p','v','m','f') then not has_table_privilege(%s, c.oid, %s) else false end", (r["name"], ",".join(tables)))[0]
        if missing:
            self.run(cur, sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA public TO {}").format(sql.SQL(", ").join(map(sql.SQL, tables)), role))
        missing = self.one(cur, "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and case when c.relkind = 'S' then not has_sequence_privilege(%s, c.oid, %s) else false end", (r["name"], ",".join(seqs)))[0]
        if missing:
            self.run(cur, sql.SQL("GRANT {} ON ALL SEQUENCES IN SCHEMA public TO {}").format(sql.SQL(", ").join(map(sql.SQL, seqs)), role))
        # Tables the owner creates later: the same rights, by default privileges.
        have = self.one(cur, """select coalesce(string_agg(distinct a.privilege_type, ',' order by a.privilege_type), '') from pg_default_acl d
            cross join aclexplode(d.defaclacl) a where d.defaclrole = %s::regrole and d.defaclnamespace = 'public'::regnamespace
            and d.defaclobjtype = 'r' and a.grantee = %s::regrole""", (db["owner"], r["name"]))[0]
        if have != ",".join(sorted(tables)):
            self.run(cur, sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT {} ON TABLES TO {}").format(owner, sql.SQL(", ").join(map(sql.SQL, tables)), role))
            self.run(cur, sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT {} ON SEQUENCES TO {}").format(owner, sql.SQL(", ").join(map(sql.SQL, seqs)), role))
        else:
            self.unchanged += 1

    def revoke_tables(self, cur, role, owner, level, keep=(), keep_seq=()):
        """Takes back table and sequence rights above `keep` (existing tables and default privileges)."""
        extra = [p for p in TABLE_PRIVILEGES[level] if p not in keep]
        extra_seq = [p for p in SEQUENCE_PRIVILEGES[level] if p not in keep_seq]
        granted = self.one(cur, "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace, aclexplode(c.relacl) a where n.nspname = 'public' and a.grantee = %s::regrole and a.privilege_type = any(%s)", (role.strings[0], extra + extra_seq))[0]
        defaults = self.one(cur, "select count(*) from pg_default_acl d cross join aclexplode(d.defaclacl) a where d.defaclnamespace = 'public'::regnamespace and a.grantee = %s::regrole and a.privilege_type = any(%s)", (role.strings[0], extra + extra_seq))[0]
        if granted:
            self.run(cur, sql.SQL("REVOKE {} ON ALL TABLES IN SCHEMA public FROM {}").format(sql.SQL(", ").join(map(sql.SQL, extra)), role))
            if extra_seq:
                self.run(cur, sql.SQL("REVOKE {} ON ALL SEQUENCES IN SCHEMA public FROM {}").format(sql.SQL(", ").join(map(sql.SQL, extra_seq)), role))
        if defaults:
            self.run(cur, sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public REVOKE {} ON TABLES FROM {}").format(owner, sql.SQL(", ").join(map(sql.SQL, extra)), role))
            if extra_seq:
                self.run(cur, sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public REVOKE {} ON SEQUENCES FROM {}").format(owner, sql.SQL(", ").join(map(sql.SQL, extra_seq)), role))

    def marked(self, cur, role):
        return self.one(cur, "select shobj_description(oid, 'pg_authid') = %s from pg_roles where rolname = %s", (self.d["marker"], role)) == (True,)

    # --- absent roles
    def drop_absent(self, cur):
        for name in self.d["absentRoles"]:
            if not self.one(cur, "select 1 from pg_roles where rolname = %s", (name,)):
                self.unchanged += 1
                continue
            if not self.marked(cur, name):
                self.warnings.append(f"role {name} is marked absent but was not created by postgres-ha: it is kept (DROP ROLE it by hand)")
                continue
            owned = self.one(cur, "select count(*) from pg_shdepend where refobjid = %s::regrole and deptype = 'o'", (name,))[0]
            owns_db = self.one(cur, "select string_agg(datname, ', ') from pg_database where datdba = %s::regrole", (name,))[0]
            if owned or owns_db:
                raise RuntimeError(f"role {name} is marked absent but still owns {owned} object(s){' and databases ' + owns_db if owns_db else ''}: REASSIGN OWNED BY {name} TO <role> in each database first")
            # It owns nothing: DROP OWNED only takes back its privileges, in every database.
            for (dbname,) in self.all(cur, "select datname from pg_database where datallowconn"):
                conn = self.connect(dbname)
                try:
                    conn.cursor().execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
                finally:
                    conn.close()
            self.run(cur, sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))

    def all(self, cur, query, args=None):
        cur.execute(query, args)
        return cur.fetchall()

    def apply(self):
        conn = self.connect("postgres")
        try:
            cur = conn.cursor()
            if self.one(cur, "select pg_is_in_recovery()")[0]:
                raise RuntimeError("this server is a standby: the declaration is applied on the leader")
            self.roles(cur)
            self.monitor(cur)
            self.databases(cur)
            for db in self.d["databases"]:
                self.in_database(db)
            self.drop_absent(cur)
        finally:
            conn.close()


def main():
    if len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0
    if len(sys.argv) != 4:
        print("usage: access.py DECLARATION SOCKET_DIR PORT  (passwords as JSON on stdin)", file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        declaration = json.load(f)
    by_role = json.load(sys.stdin)
    a = Applier(declaration, by_role, sys.argv[2], int(sys.argv[3]))
    try:
        a.apply()
    except (psycopg2.Error, RuntimeError) as e:
        print(json.dumps({"ok": False, "error": str(e).strip(), "changes": a.changes, "unchanged": a.unchanged, "warnings": a.warnings}))
        return 1
    print(json.dumps({"ok": True, "changes": a.changes, "unchanged": a.unchanged, "warnings": a.warnings}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
