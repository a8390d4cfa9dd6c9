/**
 * The administration API as the admin page uses it: users, groups and the audit log (server
 * admins), and a model's roles per group and element security (that model's admins). One method
 * per route of server/api/admin.py, on the page's signed-in Api (cookie, CSRF, error shape).
 */

import type { Api, Role, User } from "../api";

export interface UserRow extends User {
  disabled: boolean;
  created_at: string;
}

export interface NewUser {
  name: string;
  password?: string;
  email?: string;
  display_name?: string;
  server_admin?: boolean;
}

export interface Group {
  name: string;
  external_id: string | null;
  description: string;
  created_at: string;
  members: string[];
}

export interface RoleGrant {
  group: string;
  role: Role;
}

export type Access = "NONE" | "READ" | "WRITE";

export interface ElementGrant {
  element: string;
  group: string;
  access: Access;
}

export interface ElementRule extends ElementGrant {
  dimension: string;
}

export interface AuditEntry {
  id: string;
  time: string;
  /** The acting user's id (null: the system, e.g. `plancube demo`). */
  actor: string | null;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
}

export const ROLES: Role[] = ["viewer", "planner", "modeler", "admin"];
export const ACCESS: Access[] = ["NONE", "READ", "WRITE"];

export class AdminApi {
  constructor(private readonly api: Api) {}

  // -- server admins -------------------------------------------------------------------------

  users(): Promise<UserRow[]> {
    return this.api.call("GET", "/api/admin/users");
  }

  addUser(user: NewUser): Promise<User> {
    return this.api.call("POST", "/api/admin/users", user);
  }

  /** Set a password, or disable / enable (disabling ends the user's sessions and tokens). */
  changeUser(name: string, change: { password?: string; disabled?: boolean }): Promise<null> {
    return this.api.call("PATCH", `/api/admin/users/${enc(name)}`, change);
  }

  groups(): Promise<Group[]> {
    return this.api.call("GET", "/api/admin/groups");
  }

  addGroup(name: string, description = ""): Promise<Group> {
    return this.api.call("POST", "/api/admin/groups", { name, description });
  }

  deleteGroup(name: string): Promise<null> {
    return this.api.call("DELETE", `/api/admin/groups/${enc(name)}`);
  }

  addMember(group: string, user: string): Promise<null> {
    return this.api.call("PUT", `/api/admin/groups/${enc(group)}/members/${enc(user)}`);
  }

  removeMember(group: string, user: string): Promise<null> {
    return this.api.call("DELETE", `/api/admin/groups/${enc(group)}/members/${enc(user)}`);
  }

  /** The audit log, newest first. */
  audit(limit = 100): Promise<AuditEntry[]> {
    return this.api.call("GET", `/api/admin/audit?limit=${limit}`);
  }

  // -- model admins --------------------------------------------------------------------------

  roles(model: string): Promise<RoleGrant[]> {
    return this.api.call("GET", `/api/models/${enc(model)}/security/roles`);
  }

  setRole(model: string, group: string, role: Role): Promise<null> {
    return this.api.call("PUT", `/api/models/${enc(model)}/security/roles/${enc(group)}`, { role });
  }

  removeRole(model: string, group: string): Promise<null> {
    return this.api.call("DELETE", `/api/models/${enc(model)}/security/roles/${enc(group)}`);
  }

  /** The element security rules of one dimension, or of every dimension. */
  elementRules(model: string, dimension?: string): Promise<ElementRule[]> {
    const query = dimension === undefined ? "" : `?dimension=${enc(dimension)}`;
    return this.api.call("GET", `/api/models/${enc(model)}/security/elements${query}`);
  }

  /** Replace the dimension's whole element security with `grants` (empty: open it again). */
  replaceElementRules(model: string, dimension: string, grants: ElementGrant[]): Promise<ElementRule[]> {
    return this.api.call("PUT", `/api/models/${enc(model)}/security/elements/${enc(dimension)}`, grants);
  }
}

function enc(part: string): string {
  return encodeURIComponent(part);
}
