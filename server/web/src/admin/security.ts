/**
 * A model's security (its admins, and server admins): each group's role in the model, and the
 * element security of one dimension at a time — a table of (element, group, access) edited in
 * the page and saved whole (PUT replaces the dimension's rules; an empty table opens it again).
 */

import type { Api, Role } from "../api";
import { el } from "../dom";
import { ACCESS, type Access, type AdminApi, type ElementGrant, ROLES } from "./api";
import { button, choice, Section, table } from "./parts";

export class RolesSection extends Section {
  private model = "";
  private readonly group = el("input", { name: "role-group", placeholder: "group", list: "group-names", required: "" });
  private readonly role = choice("role-role", ROLES, "planner");
  private readonly list = el("div");

  constructor(private readonly admin: AdminApi) {
    super("Roles in the model", "admin-roles");
    const form = el(
      "form",
      { class: "inline", "aria-label": "Give a group a role" },
      this.group,
      this.role,
      el("button", { type: "submit" }, "Set role"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const group = this.group.value.trim();
      const role = this.role.value as Role;
      void this.act(`${group} is ${role} in ${this.model}.`, async () => {
        await this.admin.setRole(this.model, group, role);
        this.group.value = "";
      });
    });
    this.body.append(this.list, form);
  }

  open(model: string): Promise<void> {
    this.model = model;
    return this.reload();
  }

  async load(): Promise<void> {
    if (!this.model) return;
    const model = this.model;
    const roles = await this.admin.roles(model);
    const rows = roles.map((r) => {
      const role = choice(`role-of-${r.group}`, ROLES, r.role);
      role.addEventListener("change", () => {
        const chosen = role.value as Role;
        void this.act(`${r.group} is ${chosen} in ${model}.`, () => this.admin.setRole(model, r.group, chosen));
      });
      const remove = button("Remove", () => {
        void this.act(`${r.group} has no role in ${model} now.`, () => this.admin.removeRole(model, r.group));
      });
      return [r.group, role, remove];
    });
    this.list.replaceChildren(table(["group", "role", ""], rows, { class: "roles" }));
  }
}

interface Row {
  element: HTMLInputElement;
  group: HTMLInputElement;
  access: HTMLSelectElement;
}

export class ElementsSection extends Section {
  private model = "";
  private dimension = "";
  private rows: Row[] = [];
  private readonly dimensions = el("select", { name: "security-dimension" });
  private readonly elementNames = el("datalist", { id: "element-names" });
  private readonly list = el("div");

  constructor(
    private readonly admin: AdminApi,
    private readonly api: Api,
  ) {
    super("Element security", "admin-elements");
    this.dimensions.addEventListener("change", () => {
      this.dimension = this.dimensions.value;
      void this.reload();
    });
    const add = button("Add a rule", () => {
      this.rows.push(this.row({ element: "", group: "", access: "READ" }));
      this.show();
    });
    const save = button("Save", () => this.save(), { class: "primary" });
    this.body.append(
      el("label", {}, "Dimension ", this.dimensions),
      this.elementNames,
      el(
        "p",
        { class: "hint" },
        "A rule gives a group NONE, READ or WRITE on an element and, unless they have a rule of " +
          "their own, on the elements under it. Once a dimension has rules, a group they do not " +
          "name sees none of its elements. Save replaces the dimension's rules with this table.",
      ),
      this.list,
      el("p", { class: "actions" }, add, save),
    );
  }

  async open(model: string): Promise<void> {
    this.model = model;
    const [infos, rules] = await Promise.all([this.api.dimensions(model), this.admin.elementRules(model)]);
    const dimensions = infos.map((d) => d.name);
    // Start on a dimension that has rules (the one an admin most likely came to look at).
    if (!dimensions.includes(this.dimension)) this.dimension = rules[0]?.dimension ?? dimensions[0] ?? "";
    this.dimensions.replaceChildren(...dimensions.map((d) => el("option", { value: d }, d)));
    this.dimensions.value = this.dimension;
    await this.reload();
  }

  async load(): Promise<void> {
    if (!this.model || !this.dimension) return;
    const [rules, elements] = await Promise.all([
      this.admin.elementRules(this.model, this.dimension),
      this.api.elements(this.model, this.dimension),
    ]);
    this.elementNames.replaceChildren(...elements.map((e) => el("option", { value: e.name })));
    this.rows = rules.map((r) => this.row(r));
    this.show();
  }

  private row(grant: ElementGrant): Row {
    const row: Row = {
      element: el("input", { name: "rule-element", value: grant.element, list: "element-names", size: "22" }),
      group: el("input", { name: "rule-group", value: grant.group, list: "group-names", size: "16" }),
      access: choice("rule-access", ACCESS, grant.access),
    };
    return row;
  }

  private show(): void {
    const rows = this.rows.map((r) => [
      r.element,
      r.group,
      r.access,
      button("Remove", () => {
        this.rows = this.rows.filter((x) => x !== r);
        this.show();
      }),
    ]);
    const empty = this.rows.length === 0 ? el("p", { class: "hint" }, `No rules: every role in the model sees all of ${this.dimension}.`) : null;
    this.list.replaceChildren(table(["element", "group", "access", ""], rows, { class: "elements" }), empty ?? "");
  }

  /** The table as it is now, without the rows left blank. */
  grants(): ElementGrant[] {
    return this.rows
      .map((r) => ({ element: r.element.value.trim(), group: r.group.value.trim(), access: r.access.value as Access }))
      .filter((g) => g.element !== "" || g.group !== "");
  }

  private save(): void {
    const grants = this.grants();
    const what = `Saved ${grants.length} rule${grants.length === 1 ? "" : "s"} on ${this.dimension}.`;
    void this.act(what, () => this.admin.replaceElementRules(this.model, this.dimension, grants));
  }
}
