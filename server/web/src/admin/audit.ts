/** The audit log (server admins), newest first: who did what to which target, before → after. */

import { el } from "../dom";
import type { AdminApi } from "./api";
import { button, Section, table } from "./parts";

export class AuditSection extends Section {
  private readonly list = el("div");
  /** User ids to names (the log records who acted by id). */
  names: (id: string) => string = (id) => id;

  constructor(private readonly admin: AdminApi) {
    super("Audit log", "admin-audit");
    this.body.append(button("Refresh", () => void this.reload()), this.list);
  }

  async load(): Promise<void> {
    const entries = await this.admin.audit(100);
    const rows = entries.map((e) => [
      e.time.replace("T", " ").replace(/\.\d+Z$/, "Z"),
      e.actor === null ? "system" : this.names(e.actor),
      e.action,
      e.target,
      change(e.before, e.after),
    ]);
    this.list.replaceChildren(table(["time (UTC)", "who", "action", "target", "before → after"], rows, { class: "audit" }));
  }
}

function change(before: unknown, after: unknown): string {
  const text = (v: unknown) => (v === null || v === undefined ? "—" : typeof v === "string" ? v : JSON.stringify(v));
  return before === null || before === undefined ? text(after) : `${text(before)} → ${text(after)}`;
}
