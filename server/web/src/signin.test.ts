import { expect, test } from "vitest";
import { ApiError } from "./api";
import { NEXT_MAX, providerLabel, providerLink, signInProblem } from "./signin";

test("what the sign-in form says for each refusal", () => {
  expect(signInProblem(new ApiError(401, "sign_in_failed", "x"))).toBe("The user name or password is not right.");
  expect(signInProblem(new ApiError(429, "account_locked", "x", {}, 900))).toBe(
    "This account is locked after too many wrong passwords. Try again in 15 min.",
  );
  expect(signInProblem(new ApiError(429, "sign_in_rate_limited", "x", {}, 6))).toBe(
    "Too many sign-in attempts from this computer. Try again in 6 s.",
  );
  expect(signInProblem(new ApiError(0, "network", "x"))).toBe("The server did not answer: is it running?");
  expect(signInProblem(new ApiError(422, "validation_error", "username is empty"))).toBe(
    "Could not sign in: username is empty",
  );
});

const ENTRA = {
  kind: "entra" as const,
  authority: "https://login.microsoftonline.com/tenant",
  client_id: "c1",
  scopes: ["api://plancube/access_as_user"],
  web_sign_in: "/api/auth/oidc/start",
};
const KEYCLOAK = {
  kind: "oidc" as const,
  issuer: "https://id.example.org:8443/realms/plan",
  authority: "https://id.example.org:8443/realms/plan",
  client_id: "plancube-web",
  scopes: [],
  web_sign_in: "/api/auth/oidc/start",
};
const HOME = { pathname: "/", search: "", hash: "" };

test("the provider's link: Microsoft for Entra, the issuer's host for OIDC", () => {
  const entra = { mode: "entra" as const, local_accounts: true, provider: ENTRA };
  expect(providerLink(entra, HOME)).toEqual({ label: "Sign in with Microsoft", href: "/api/auth/oidc/start?next=%2F" });
  const oidc = { mode: "oidc" as const, local_accounts: true, provider: KEYCLOAK };
  expect(providerLink(oidc, HOME)?.label).toBe("Sign in with id.example.org:8443");
});

test("no link without web sign-in: local accounts only, or a provider with no web client", () => {
  expect(providerLink({ mode: "local", local_accounts: true }, HOME)).toBeNull();
  const bare = { mode: "entra" as const, local_accounts: true, provider: { ...ENTRA, web_sign_in: null } };
  expect(providerLink(bare, HOME)).toBeNull();
});

test("the sign-in comes back to the view and the hash the page is at", () => {
  const config = { mode: "entra" as const, local_accounts: true, provider: ENTRA };
  const here = { pathname: "/", search: "?model=demo&rows=Account:descendants(Net%20Income)", hash: "#admin" };
  const href = providerLink(config, here)?.href ?? "";
  const next = new URL(href, "https://plancube.example").searchParams.get("next");
  expect(next).toBe("/?model=demo&rows=Account:descendants(Net%20Income)#admin");
  // a view too long for the server's `next` comes back to the page's start
  const long = { pathname: "/", search: `?rows=${"x".repeat(NEXT_MAX)}`, hash: "" };
  expect(providerLink(config, long)?.href).toBe("/api/auth/oidc/start?next=%2F");
});

test("an issuer that is not a URL still gets a label", () => {
  expect(providerLabel({ ...KEYCLOAK, issuer: "not a url", authority: "nor this" })).toBe(
    "Sign in with your identity provider",
  );
});
