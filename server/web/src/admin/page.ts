/**
 * The admin page (`#admin`): shown to server admins and to admins of a model, in place of the
 * grid. A server admin gets users, groups and the audit log; a model's admin gets that model's
 * roles per group and element security. Every section lists what the server has and changes it
 * through the admin API (./api.ts); each says on its own line what its last action did or why
 * the server refused it.
 */

import type { Api } from "../api";
import type { Account } from "../account";
import { el } from "../dom";
import { AdminApi } from "./api";
import { AuditSection } from "./audit";
import { GroupsSection } from "./groups";
import { choice } from "./parts";
import { ElementsSection, RolesSection } from "./security";
import { UsersSection } from "./users";

export class AdminPage {
  private readonly users: UsersSection;
  private readonly groups: GroupsSection;
  private readonly audit: AuditSection;
  private readonly roles: RolesSection;
  private readonly elements: ElementsSection;
  private readonly groupNames = el("datalist", { id: "group-names" });
  private built = false;

  constructor(
    private readonly host: HTMLElement,
    api: Api,
    private readonly account: Account,
  ) {
    const admin = new AdminApi(api);
    this.users = new UsersSection(admin);
    this.groups = new GroupsSection(admin);
    this.audit = new AuditSection(admin);
    this.roles = new RolesSection(admin);
    this.elements = new ElementsSection(admin, api);
    this.groups.changed = (groups) =>
      this.groupNames.replaceChildren(...groups.map((g) => el("option", { value: g.name })));
    this.audit.names = (id) => this.users.users.find((u) => u.id === id)?.name ?? id;
  }

  /** Show the page (afresh each time: others may have changed things meanwhile). */
  async open(): Promise<void> {
    if (!this.built) this.build();
    const loads: Promise<void>[] = [];
    if (this.account.serverAdmin) {
      await this.users.load().catch(() => {});
      loads.push(this.groups.load(), this.audit.load());
    }
    const model = this.modelChoice?.value;
    if (model) loads.push(this.roles.open(model), this.elements.open(model));
    await Promise.allSettled(loads);
  }

  private modelChoice: HTMLSelectElement | null = null;

  private build(): void {
    this.built = true;
    const parts: Node[] = [el("h1", {}, "Administration"), this.groupNames];
    if (this.account.serverAdmin) parts.push(this.users.node, this.groups.node);
    const models = this.account.adminModels;
    if (models.length > 0) {
      const model = choice("admin-model", models);
      model.addEventListener("change", () => {
        void this.roles.open(model.value);
        void this.elements.open(model.value);
      });
      this.modelChoice = model;
      parts.push(
        el("div", { class: "admin-model" }, el("label", {}, "Model ", model)),
        this.roles.node,
        this.elements.node,
      );
    }
    if (this.account.serverAdmin) parts.push(this.audit.node);
    this.host.replaceChildren(el("a", { href: "#", class: "back" }, "← Back to the grid"), ...parts);
  }
}
