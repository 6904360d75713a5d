// postgres.databases / postgres.roles → the access declaration every PostgreSQL node gets
// (/etc/pgha/access.json) and pgha-access applies on the leader. Plain data: names, owners,
// grants and the name of each login role's secret, never a password.
import { DB_USERS } from "../spec";
import type { DatabaseDecl, GrantLevel, RoleDecl } from "../config/schema";

export interface AccessDatabase {
  name: string;
  owner: string;
  encoding: string;
  /** libc locale (C, POSIX, C.UTF-8) or icu:<tag>. */
  locale: string;
  extensions: string[];
}

export interface AccessRole {
  name: string;
  login: boolean;
  /** -1: no limit. */
  connectionLimit: number;
  memberOf: string[];
  grants: { database: string; level: GrantLevel }[];
  /** Login roles: the Secrets Manager secret holding its password, and the version it holds. */
  secret?: string;
  passwordVersion?: number;
}

export interface AccessDeclaration {
  /** Marks what pgha-access created (a COMMENT on the role or database), so it drops nothing else. */
  marker: string;
  databases: AccessDatabase[];
  roles: AccessRole[];
  /** Roles to drop (absent: true): only if they carry the marker and own nothing. */
  absentRoles: string[];
  /** The metrics role pgha-access keeps: LOGIN, member of pg_monitor, no password (peer authentication only). */
  monitorRole: string;
}

export const ACCESS_MARKER = "managed by postgres-ha";
export const DEFAULT_ENCODING = "UTF8";
export const DEFAULT_LOCALE = "C.UTF-8";

const byName = <T extends { name: string }>(a: T, b: T) => a.name.localeCompare(b.name);

/** The declaration, sorted by name so the rendered file changes only when the config does. */
export function accessDeclaration(
  databases: Record<string, DatabaseDecl>,
  roles: Record<string, RoleDecl>,
  roleSecretName: (role: string) => string,
): AccessDeclaration {
  const present = Object.entries(roles).filter(([, r]) => r.absent !== true);
  return {
    marker: ACCESS_MARKER,
    databases: Object.entries(databases)
      .map(([name, d]) => ({ name, owner: d.owner, encoding: d.encoding ?? DEFAULT_ENCODING, locale: d.locale ?? DEFAULT_LOCALE, extensions: [...(d.extensions ?? [])].sort() }))
      .sort(byName),
    roles: present
      .map(([name, r]) => {
        const login = r.login ?? true;
        const role: AccessRole = {
          name,
          login,
          connectionLimit: r.connectionLimit ?? -1,
          memberOf: [...(r.memberOf ?? [])].sort(),
          grants: Object.entries(r.grants ?? {}).map(([database, level]) => ({ database, level })).sort((a, b) => a.database.localeCompare(b.database)),
        };
        if (login) Object.assign(role, { secret: roleSecretName(name), passwordVersion: r.passwordVersion ?? 1 });
        return role;
      })
      .sort(byName),
    absentRoles: Object.entries(roles).filter(([, r]) => r.absent === true).map(([name]) => name).sort(),
    monitorRole: DB_USERS.monitor,
  };
}

/** The database a role's secret names (its `dbname`): the one it owns, else the first it is granted. */
export function roleDatabase(d: AccessDeclaration, role: AccessRole): string | undefined {
  return d.databases.find((db) => db.owner === role.name)?.name ?? role.grants[0]?.database;
}

/** The login roles of a declaration (each has a secret). */
export function loginRoles(d: AccessDeclaration): (AccessRole & { secret: string; passwordVersion: number })[] {
  return d.roles.filter((r): r is AccessRole & { secret: string; passwordVersion: number } => r.login && !!r.secret);
}
