// Where the card page sends its requests.
// For a deployed stack: set API_BASE_URL to the stack's `ApiUrl` output (no trailing slash), put the same
// origin in the Content-Security-Policy `connect-src` of index.html and account.html, and list the pages'
// origin in the stack's AllowedOrigins parameter. `make dev` serves its own copy of this file with the local API's URL.
export const API_BASE_URL = "http://localhost:3000";

// Local development only (`make dev ARGS=--jwt`): the dev issuer's token endpoint, which signs a token for
// a fixed development user. Leave it empty in production; signed-in pages get their access token from
// their own sign-in (see accessToken() in app.js).
export const DEV_TOKEN_URL = "";

// The signed-in customer's subscription on the account page (account.html): its customer_uid, which the
// customer never types or sees. A merchant's site knows it from its own session (its mapping of customers to
// customer_uids) and returns it here, or null when there is none. As shipped, it is the uid the card page
// last registered for a signed-in caller in this browser tab (sessionStorage, nothing of the card), which is
// what `make dev ARGS=--jwt` and the browser tests use.
const CUSTOMER_UID_KEY = "billing.customer_uid";

export function accountCustomerUid() {
  return sessionStorage.getItem(CUSTOMER_UID_KEY);
}

/** Remembers the subscription's uid for accountCustomerUid(); null forgets it (after erasure). */
export function rememberCustomerUid(customerUid) {
  if (customerUid) sessionStorage.setItem(CUSTOMER_UID_KEY, customerUid);
  else sessionStorage.removeItem(CUSTOMER_UID_KEY);
}
