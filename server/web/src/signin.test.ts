import { expect, test } from "vitest";
import { ApiError } from "./api";
import { signInProblem } from "./signin";

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
