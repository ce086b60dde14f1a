// What the card page (app.js) and the account page (account.js) share when talking to the API: the
// caller's access token, Idempotency-Keys, and reading an answer. No DOM, and nothing of a card.

import { DEV_TOKEN_URL } from "./config.js";

const DEV_SUBJECT = "dev-user"; // the user the dev issuer signs tokens for (make dev ARGS=--jwt)

let token = null; // { value, expiresAt } while one is held

export function newIdempotencyKey() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs a secure context
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// The caller's access token, or null for an anonymous caller. A page whose customers sign in returns their
// access token here (from its OpenID Connect library); `make dev ARGS=--jwt` uses the dev issuer.
export async function accessToken() {
  if (!DEV_TOKEN_URL) return null;
  if (token && token.expiresAt > Date.now() + 30000) return token.value;
  try {
    const response = await fetch(DEV_TOKEN_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sub: DEV_SUBJECT }),
      credentials: "omit",
      cache: "no-store",
    });
    if (!response.ok) return null;
    const answer = await response.json();
    token = { value: answer.access_token, expiresAt: Date.now() + answer.expires_in * 1000 };
    return token.value;
  } catch {
    return null; // the API then answers 401, which the page explains
  }
}

/** The API refused the token (401): the next request fetches a new one. */
export function forgetToken() {
  token = null;
}

export function retryAfterSeconds(response) {
  const value = response.headers.get("Retry-After");
  if (value === null) return null;
  if (/^\d+$/.test(value.trim())) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, (date - Date.now()) / 1000);
}

export function sleep(ms) {
  return new Promise((resolve) => {
    setTimeout(resolve, ms);
  });
}

/**
 * Whether AWS WAF answered instead of the API (the public edge): its challenge (202) and its CAPTCHA (405)
 * name their action in x-amzn-waf-action and carry no answer of the API's. The API's own 202 always has a
 * `status`, so a 202 without one is WAF's too, should a browser not show the page the header.
 */
export function answeredByWaf(response, body) {
  return response.headers.has("x-amzn-waf-action") || (response.status === 202 && !(body && body.status));
}

export async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}
