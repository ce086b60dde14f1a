// Where the card page sends its requests.
// For a deployed stack: set API_BASE_URL to the stack's `ApiUrl` output (no trailing slash), put the same
// origin in the Content-Security-Policy `connect-src` of index.html and account.html, and list the pages'
// origin in the stack's AllowedOrigins parameter. `make dev` serves its own copy of this file with the local API's URL.
export const API_BASE_URL = "http://localhost:3000";

// Local development only (`make dev ARGS=--jwt`): the dev issuer's token endpoint, which signs a token for
// a fixed development user. Leave it empty in production; signed-in pages get their access token from
// their own sign-in (see accessToken() in api.js).
export const DEV_TOKEN_URL = "";

