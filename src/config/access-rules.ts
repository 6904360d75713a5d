// The rules of the access declaration (postgres.databases, postgres.roles) between its keys:
// owners, grants and memberships name declared roles and databases, reserved names are refused
// with the reason, an absent role is referenced by nothing, memberships form no cycle.
import { AVAILABLE_EXTENSIONS, GRANTABLE_PREDEFINED_ROLES, RESERVED_DATABASES, RESERVED_ROLE_PREFIX, RESERVED_ROLES } from "../access/names";
import type { PathSegment } from "./problems";

type Add = (path: PathSegment[], value: unknown, reason: string, allowed?: string, extra?: { fix?: "remove" }) => void;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === "string";

/** Checks postgres.databases and postgres.roles (whatever of them passed the schema). */
export function accessProblems(pg: Record<string, unknown>, add: Add, failed: (path: PathSegment[]) => boolean): void {
  const databases = (isObj(pg.databases) ? pg.databases : {}) as Record<string, Record<string, unknown> | undefined>;
  const roles = (isObj(pg.roles) ? pg.roles : {}) as Record<string, Record<string, unknown> | undefined>;
  const present = (r: string) => isObj(roles[r]) && roles[r]!.absent !== true;
  const roleNames = Object.keys(roles).filter(present);
  const dbNames = Object.keys(databases).filter((d) => !RESERVED_DATABASES[d]);
  const declaredRoles = roleNames.length ? `a role of postgres.roles (${roleNames.join(", ")})` : "a role of postgres.roles (none is declared)";

  for (const [name, db] of Object.entries(databases)) {
    const at = ["postgres", "databases", name];
    if (RESERVED_DATABASES[name]) {
      add(at, db, `${name} ${RESERVED_DATABASES[name]}`, `a database name other than ${Object.keys(RESERVED_DATABASES).join(", ")}`, { fix: "remove" });
      continue;
    }
    if (!isObj(db)) continue;
    if (isStr(db.owner) && !failed([...at, "owner"])) {
      if (isObj(roles[db.owner]) && roles[db.owner]!.absent === true) add([...at, "owner"], db.owner, `is marked absent in postgres.roles: a database needs its owner`, declaredRoles);
      else if (!present(db.owner)) add([...at, "owner"], db.owner, "is not declared in postgres.roles", declaredRoles);
    }
    const locale = isStr(db.locale) ? db.locale : "C.UTF-8";
    if (isStr(db.encoding) && db.encoding !== "UTF8" && (locale === "C.UTF-8" || locale.startsWith("icu:")))
      add([...at, "encoding"], db.encoding, `does not go with locale ${locale}, which needs UTF8`, "UTF8 with C.UTF-8 or an ICU locale; SQL_ASCII or LATIN1 only with locale C or POSIX");
    if (Array.isArray(db.extensions)) {
      db.extensions.forEach((e, i) => {
        if (isStr(e) && !failed([...at, "extensions", i]) && !(AVAILABLE_EXTENSIONS as readonly string[]).includes(e))
          add([...at, "extensions", i], e, "is not an extension this program can create", `one of ${AVAILABLE_EXTENSIONS.join(", ")}`);
      });
    }
  }

  for (const [name, role] of Object.entries(roles)) {
    const at = ["postgres", "roles", name];
    if (RESERVED_ROLES[name] || name.startsWith(RESERVED_ROLE_PREFIX)) {
      const why = RESERVED_ROLES[name] ?? "begins with pg_, which PostgreSQL reserves for its own roles";
      add(at, role, `${name} ${why}`, `a role name other than ${Object.keys(RESERVED_ROLES).join(", ")} and not beginning with pg_`, { fix: "remove" });
      continue;
    }
    if (!isObj(role)) continue;
    if (role.absent === true) {
      for (const key of ["grants", "memberOf", "passwordVersion", "connectionLimit"] as const)
        if (role[key] !== undefined) add([...at, key], role[key], "is set on a role marked absent (it is dropped)", "absent: true alone, or no absent");
      continue;
    }
    if (role.login === false && role.passwordVersion !== undefined)
      add([...at, "passwordVersion"], role.passwordVersion, "is set on a role that does not log in (login: false): it has no password", "no passwordVersion, or login: true");
    const grants = isObj(role.grants) ? role.grants : {};
    for (const db of Object.keys(grants)) {
      if (failed([...at, "grants", db])) continue;
      if (!dbNames.includes(db))
        add([...at, "grants", db], grants[db], `names database ${db}, which postgres.databases does not declare`, dbNames.length ? `a database of postgres.databases (${dbNames.join(", ")})` : "a database of postgres.databases (none is declared)");
      else if (grants[db] === "owner" && databases[db]?.owner === name)
        add([...at, "grants", db], grants[db], `${name} already owns ${db} (postgres.databases.${db}.owner)`, "readOnly or readWrite, or no grant (the owner has every right)", { fix: "remove" });
    }
    const memberOf = Array.isArray(role.memberOf) ? role.memberOf : [];
    memberOf.forEach((m, i) => {
      if (!isStr(m) || failed([...at, "memberOf", i])) return;
      if (m === name) add([...at, "memberOf", i], m, "a role cannot be a member of itself");
      else if (m.startsWith(RESERVED_ROLE_PREFIX)) {
        if (!(GRANTABLE_PREDEFINED_ROLES as readonly string[]).includes(m))
          add([...at, "memberOf", i], m, ["pg_read_server_files", "pg_write_server_files", "pg_execute_server_program"].includes(m) ? "hands out the node itself (its files or programs): not granted by this program" : "is no grantable predefined role of PostgreSQL 17", `one of ${GRANTABLE_PREDEFINED_ROLES.join(", ")}, or a role of postgres.roles`);
      } else if (isObj(roles[m]) && roles[m]!.absent === true) add([...at, "memberOf", i], m, "is marked absent in postgres.roles", declaredRoles);
      else if (!present(m)) add([...at, "memberOf", i], m, "is not declared in postgres.roles", declaredRoles);
    });
  }

  // Membership cycles (a → b → a): PostgreSQL refuses them; report the first found.
  const edges = (r: string) => {
    const m = roles[r]?.memberOf;
    return Array.isArray(m) ? m.filter((x): x is string => isStr(x) && x !== r && present(x)) : [];
  };
  const state = new Map<string, "visiting" | "done">();
  const visit = (r: string, trail: string[]): string[] | undefined => {
    if (state.get(r) === "done") return undefined;
    if (state.get(r) === "visiting") return [...trail.slice(trail.indexOf(r)), r];
    state.set(r, "visiting");
    for (const next of edges(r)) {
      const cycle = visit(next, [...trail, r]);
      if (cycle) return cycle;
    }
    state.set(r, "done");
    return undefined;
  };
  for (const r of roleNames) {
    const cycle = visit(r, []);
    if (cycle) {
      add(["postgres", "roles", cycle[0], "memberOf"], roles[cycle[0]]?.memberOf, `forms a membership cycle: ${cycle.join(" → ")}`, "memberships that end at a role which is a member of nothing declared");
      break;
    }
  }
}
