/** Users (server admins): list, add a local account with a password, disable / enable, set a password. */

import { el } from "../dom";
import type { AdminApi, UserRow } from "./api";
import { button, Section, table } from "./parts";

export class UsersSection extends Section {
  private readonly name = el("input", { name: "new-user", placeholder: "user name", required: "" });
  private readonly password = el("input", {
    name: "new-password",
    type: "password",
    placeholder: "password",
    autocomplete: "new-password",
  });
  private readonly displayName = el("input", { name: "new-display-name", placeholder: "display name (optional)" });
  private readonly serverAdmin = el("input", { name: "new-server-admin", type: "checkbox" });
  private readonly list = el("div");
  users: UserRow[] = [];

  constructor(private readonly admin: AdminApi) {
    super("Users", "admin-users");
    const form = el(
      "form",
      { class: "inline", "aria-label": "Add a user" },
      this.name,
      this.displayName,
      this.password,
      el("label", {}, this.serverAdmin, "server admin"),
      el("button", { type: "submit" }, "Add user"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = this.name.value.trim();
      const password = this.password.value;
      const user = {
        name,
        password: password || undefined,
        display_name: this.displayName.value.trim() || undefined,
        server_admin: this.serverAdmin.checked,
      };
      // Without a password the account exists but cannot sign in with one (a provider's
      // sign-in still can): say so, as `plancube user add` does.
      const done = password
        ? `Added ${name}.`
        : `Added ${name} with no password: ${name} cannot sign in with one until it is set (Set password).`;
      void this.act(
        done,
        async () => {
          await this.admin.addUser(user);
          form.reset();
        },
        password ? "ok" : "warning",
      );
    });
    this.body.append(this.list, form);
  }

  async load(): Promise<void> {
    this.users = await this.admin.users();
    const rows = this.users.map((u) => [
      u.name,
      u.display_name,
      u.server_admin ? "server admin" : "",
      u.local ? "local" : "identity provider",
      u.disabled ? "disabled" : "active",
      el(
        "span",
        { class: "actions" },
        button(u.disabled ? "Enable" : "Disable", () => this.toggle(u), { name: `toggle-${u.name}` }),
        u.local ? button("Set password", () => this.setPassword(u), { name: `password-${u.name}` }) : "",
      ),
    ]);
    this.list.replaceChildren(
      table(["user", "display name", "", "account", "state", ""], rows, { class: "users" }),
    );
  }

  private toggle(u: UserRow): void {
    const disabled = !u.disabled;
    const what = disabled ? `Disabled ${u.name}: their sessions and tokens have ended.` : `Enabled ${u.name}.`;
    void this.act(what, () => this.admin.changeUser(u.name, { disabled }));
  }

  private setPassword(u: UserRow): void {
    const password = prompt(`New password for ${u.name}:`);
    if (!password) return;
    void this.act(`Set a new password for ${u.name}.`, () => this.admin.changeUser(u.name, { password }));
  }
}
