/**
 * Who is signed in, and signing in again when the session ends.
 *
 * `start()` asks GET /api/auth/me; with no session (401) it shows the sign-in form until someone
 * signs in. Afterwards any 401 (the session expired, was ended by an admin, or this browser
 * signed out in another tab) brings the form back over the page without reloading it: the grid
 * and the edits not saved yet stay, and once the same user has signed in again the page resumes
 * (the edit queue sends what waited, the live feed reconnects). Another user signing in there
 * gets a fresh page: the first one's unsent edits are not theirs to send. A refused CSRF token
 * (403 csrf_failed: the cookie now belongs to a sign-in in another tab) is checked the same way.
 *
 * The header shows the user's name, the admin page's link for those who may use it, and Sign
 * out (POST /api/auth/logout, then the page starts again at the form).
 */

import type { Api, ApiError, Me, Role } from "./api";
import { el } from "./dom";
import type { SignInForm } from "./signin";

export interface AccountHooks {
  /** The same user signed in again: resume what waited. */
  signedInAgain(): void;
  /** How many edits are not saved yet (said before signing out, kept across a new sign-in). */
  unsaved(): number;
}

export class Account {
  me: Me | null = null;
  private recovering = false;
  private lastCheck = 0;
  private readonly who = el("span", { id: "who" });
  private readonly adminLink = el("a", { id: "admin-link", href: "#admin", hidden: "" }, "Admin");
  private readonly signOutButton = el("button", { type: "button", id: "signout" }, "Sign out");

  constructor(
    private readonly host: HTMLElement,
    private readonly api: Api,
    private readonly form: SignInForm,
    private readonly hooks: AccountHooks,
  ) {
    host.append(this.who, this.adminLink, this.signOutButton);
    host.hidden = true;
    this.signOutButton.addEventListener("click", () => void this.signOut());
    api.onSignInNeeded = (exc) => void this.lost(exc);
    form.unsaved = () => hooks.unsaved();
  }

  /** Signed in: who, asking with the form first if nobody is. */
  async start(): Promise<Me> {
    for (;;) {
      try {
        this.me = await this.api.me();
        break;
      } catch (exc) {
        if ((exc as ApiError).status !== 401) throw exc;
        await this.form.ask();
      }
    }
    this.render();
    return this.me;
  }

  roleOf(model: string): Role | undefined {
    return this.me?.models.find((m) => m.model === model)?.role;
  }

  get serverAdmin(): boolean {
    return this.me?.user.server_admin ?? false;
  }

  /** Models whose security this user may change (a server admin: every model they see). */
  get adminModels(): string[] {
    const models = this.me?.models ?? [];
    return models.filter((m) => this.serverAdmin || m.role === "admin").map((m) => m.model);
  }

  get mayAdminister(): boolean {
    return this.serverAdmin || this.adminModels.length > 0;
  }

  /** Still signed in? (The live feed dropped: a refused handshake looks like any drop.) */
  check(): void {
    const now = Date.now();
    if (this.me === null || this.recovering || now - this.lastCheck < 5000) return;
    this.lastCheck = now;
    this.api.me().then(
      (me) => {
        this.me = me;
      },
      () => {}, // a 401 brings the form back (onSignInNeeded); a network error: the feed retries
    );
  }

  private render(): void {
    const me = this.me;
    if (me === null) return;
    const user = me.user;
    this.who.textContent = user.display_name || user.name;
    this.who.title = `signed in as ${user.name}${user.server_admin ? " (server admin)" : ""}`;
    this.adminLink.hidden = !this.mayAdminister;
    this.host.hidden = false;
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  }

  private async lost(exc: ApiError): Promise<void> {
    const before = this.me;
    if (before === null || this.recovering) return;
    this.recovering = true;
    try {
      if (exc.status !== 401) {
        try {
          const me = await this.api.me();
          if (me.user.id !== before.user.id) return location.reload();
          this.me = me;
          this.hooks.signedInAgain();
          return;
        } catch {
          // signed out: ask below
        }
      }
      // (Said without a count: a write may be on its way back with the same 401 right now.)
      const result = await this.form.ask(
        `Your session has ended: sign in again as ${before.user.name}. ` +
          "Edits not saved yet are kept and sent once you have.",
      );
      if (result.user.id !== before.user.id) return location.reload();
      this.me = await this.api.me();
      this.render();
      this.hooks.signedInAgain();
    } finally {
      this.recovering = false;
    }
  }

  private async signOut(): Promise<void> {
    const unsaved = this.hooks.unsaved();
    if (unsaved > 0 && !confirm(`${unsaved} edit(s) are not saved yet. Sign out anyway?`)) return;
    this.recovering = true; // the page starts again: no "session ended" form meanwhile
    try {
      await this.api.logout();
    } catch {
      // ended already: the page starts again at the form either way
    }
    location.reload();
  }
}
