/**
 * The sign-in form: user name and password, posted to POST /api/auth/login. It covers the page
 * (the grid, any edits not saved yet, stay underneath) until the server answers with a session;
 * a refusal is said in the form from the server's error body: a wrong name or password (one
 * message for both, as the server gives it), a locked account or too many attempts from here,
 * with how long to wait (Retry-After).
 */

import { type Api, ApiError, type LoginResult } from "./api";
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

  constructor(
    host: HTMLElement,
    private readonly api: Api,
  ) {
    const form = el(
      "form",
      { class: "signin", "aria-labelledby": "signin-title" },
      el("h1", { id: "signin-title" }, "Sign in to plancube"),
      this.note,
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
  }

  private waiting: ((result: LoginResult) => void) | null = null;

  /** Show the form until someone signs in; `note` says why (e.g. the session ended). */
  ask(note = ""): Promise<LoginResult> {
    this.note.textContent = note;
    this.problem.textContent = "";
    this.password.value = "";
    this.overlay.hidden = false;
    (this.username.value ? this.password : this.username).focus();
    return new Promise((done) => {
      this.waiting = done;
    });
  }

  get shown(): boolean {
    return !this.overlay.hidden;
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
