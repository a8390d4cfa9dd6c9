/**
 * The sign-in form: user name and password, posted to POST /api/auth/login. It covers the page
 * (the grid, any edits not saved yet, stay underneath) until the server answers with a session;
 * a refusal is said in the form from the server's error body: a wrong name or password (one
 * message for both, as the server gives it), a locked account or too many attempts from here,
 * with how long to wait (Retry-After).
 *
 * When the server signs browsers in through an identity provider (GET /api/auth/config names a
 * `provider.web_sign_in`), the form also has "Sign in with Microsoft" (or the OIDC issuer's
 * host): a link to the server's start of that flow, which comes back to where the page is (path,
 * query and hash: the view, or #admin) signed in by the session cookie. Local accounts keep
 * working beside it. Following the link leaves the page, so edits not saved yet would be lost:
 * the form asks first.
 */

import { type Api, ApiError, type AuthConfig, type AuthProvider, type LoginResult } from "./api";
import { el } from "./dom";

/** What the form says when signing in failed. */
export function signInProblem(exc: unknown): string {
  if (!(exc instanceof ApiError)) return `Could not sign in: ${String(exc)}`;
  const wait = exc.retryAfter === null ? "" : ` Try again in ${waitText(exc.retryAfter)}.`;
  switch (exc.code) {
    case "sign_in_failed":
      return "The user name or password is not right.";
    case "account_locked":
      return `This account is locked after too many wrong passwords.${wait}`;
    case "sign_in_rate_limited":
      return `Too many sign-in attempts from this computer.${wait}`;
    case "network":
      return "The server did not answer: is it running?";
    default:
      return `Could not sign in: ${exc.message}`;
  }
}

function waitText(seconds: number): string {
  if (seconds < 90) return `${Math.ceil(seconds)} s`;
  return `${Math.ceil(seconds / 60)} min`;
}

/** Where the page is: what the provider's sign-in comes back to. */
export interface Here {
  pathname: string;
  search: string;
  hash: string;
}

/** The longest `next` the server takes (a longer view comes back to the page's start). */
export const NEXT_MAX = 2000;

/** The form's link to sign in through the identity provider, or null when the server has no
 * web sign-in. Its `next` is a path of this server, the only kind the server accepts. */
export function providerLink(config: AuthConfig, here: Here): { label: string; href: string } | null {
  const provider = config.provider;
  if (!provider?.web_sign_in) return null;
  let next = here.pathname + here.search + here.hash;
  if (next.length > NEXT_MAX) next = here.pathname;
  const join = provider.web_sign_in.includes("?") ? "&" : "?";
  return { label: providerLabel(provider), href: `${provider.web_sign_in}${join}next=${encodeURIComponent(next)}` };
}

export function providerLabel(provider: AuthProvider): string {
  if (provider.kind === "entra") return "Sign in with Microsoft";
  try {
    return `Sign in with ${new URL(provider.issuer ?? provider.authority).host}`;
  } catch {
    return "Sign in with your identity provider";
  }
}

export class SignInForm {
  private readonly overlay = el("div", { id: "signin", class: "overlay", hidden: "" });
  private readonly username = el("input", {
    name: "username",
    autocomplete: "username",
    required: "",
    autocapitalize: "none",
    spellcheck: "false",
  });
  private readonly password = el("input", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: "",
  });
  private readonly note = el("p", { class: "note" });
  private readonly problem = el("p", { class: "error", role: "alert" });
  private readonly submit = el("button", { type: "submit" }, "Sign in");
  private readonly provider = el("a", { class: "provider", hidden: "" });
  private readonly or = el("p", { class: "or", hidden: "" }, "or with a local account");
  private config: AuthConfig | null = null;
  /** How many edits are not saved yet (following the provider's link leaves the page). */
  unsaved: () => number = () => 0;

  constructor(
    host: HTMLElement,
    private readonly api: Api,
  ) {
    const form = el(
      "form",
      { class: "signin", "aria-labelledby": "signin-title" },
      el("h1", { id: "signin-title" }, "Sign in to plancube"),
      this.note,
      this.provider,
      this.or,
      el("label", {}, "User name", this.username),
      el("label", {}, "Password", this.password),
      this.problem,
      this.submit,
    );
    this.overlay.append(form);
    host.append(this.overlay);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.send();
    });
    this.provider.addEventListener("click", (event) => {
      this.showProvider(); // come back to where the page is now
      const unsaved = this.unsaved();
      const lost = `${unsaved} edit(s) not saved yet are lost when this page goes to sign in. Go anyway?`;
      if (unsaved > 0 && !confirm(lost)) event.preventDefault();
    });
  }

  private waiting: ((result: LoginResult) => void) | null = null;

  /** Show the form until someone signs in; `note` says why (e.g. the session ended). */
  ask(note = ""): Promise<LoginResult> {
    this.note.textContent = note;
    this.problem.textContent = "";
    this.password.value = "";
    this.overlay.hidden = false;
    void this.offerProvider();
    (this.username.value ? this.password : this.username).focus();
    return new Promise((done) => {
      this.waiting = done;
    });
  }

  get shown(): boolean {
    return !this.overlay.hidden;
  }

  /** Show the provider's link when the server has one (asked until it answers; meanwhile, and
   * without an answer, the local form: it always works). */
  private async offerProvider(): Promise<void> {
    this.config ??= await this.api.authConfig().catch(() => null);
    this.showProvider();
  }

  private showProvider(): void {
    const link = this.config === null ? null : providerLink(this.config, location);
    this.provider.hidden = this.or.hidden = link === null;
    if (link === null) return;
    this.provider.textContent = link.label;
    this.provider.href = link.href;
  }

  private async send(): Promise<void> {
    this.submit.disabled = true;
    this.problem.textContent = "";
    try {
      const result = await this.api.login(this.username.value.trim(), this.password.value);
      this.password.value = "";
      this.overlay.hidden = true;
      const done = this.waiting;
      this.waiting = null;
      done?.(result);
    } catch (exc) {
      this.problem.textContent = signInProblem(exc);
      this.password.select();
    } finally {
      this.submit.disabled = false;
    }
  }
}
