/** Groups (server admins): list with their members, add and delete groups, add and remove members. */

import { el } from "../dom";
import type { AdminApi, Group } from "./api";
import { button, Section, table } from "./parts";

export class GroupsSection extends Section {
  private readonly name = el("input", { name: "new-group", placeholder: "group name", required: "" });
  private readonly list = el("div");
  groups: Group[] = [];
  /** Told when the groups changed (the roles section offers them). */
  changed: (groups: Group[]) => void = () => {};

  constructor(private readonly admin: AdminApi) {
    super("Groups", "admin-groups");
    const form = el(
      "form",
      { class: "inline", "aria-label": "Add a group" },
      this.name,
      el("button", { type: "submit" }, "Add group"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = this.name.value.trim();
      void this.act(`Added group ${name}.`, async () => {
        await this.admin.addGroup(name);
        form.reset();
      });
    });
    this.body.append(this.list, form);
  }

  async load(): Promise<void> {
    this.groups = await this.admin.groups();
    this.changed(this.groups);
    const rows = this.groups.map((g) => [
      g.name,
      el(
        "span",
        { class: "members" },
        g.members.map((m) =>
          el(
            "span",
            { class: "member" },
            m,
            button("×", () => this.removeMember(g, m), {
              title: `remove ${m} from ${g.name}`,
              "aria-label": `remove ${m} from ${g.name}`,
              class: "remove",
            }),
          ),
        ),
      ),
      this.memberForm(g),
      button("Delete group", () => this.deleteGroup(g), { name: `delete-${g.name}` }),
    ]);
    this.list.replaceChildren(table(["group", "members", "add a member", ""], rows, { class: "groups" }));
  }

  private memberForm(g: Group): HTMLFormElement {
    const user = el("input", { name: `member-${g.name}`, placeholder: "user name", size: "12", required: "" });
    const form = el("form", { class: "inline" }, user, el("button", { type: "submit" }, "Add"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = user.value.trim();
      void this.act(`Added ${name} to ${g.name}.`, () => this.admin.addMember(g.name, name));
    });
    return form;
  }

  private removeMember(g: Group, user: string): void {
    void this.act(`Removed ${user} from ${g.name}.`, () => this.admin.removeMember(g.name, user));
  }

  private deleteGroup(g: Group): void {
    if (!confirm(`Delete group ${g.name}, its memberships, roles and element security?`)) return;
    void this.act(`Deleted group ${g.name}.`, () => this.admin.deleteGroup(g.name));
  }
}
