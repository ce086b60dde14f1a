// Where the card page sends its requests.
// Behind the public edge the API is on the page's own origin: API_BASE_URL is "" (`make deploy` writes it so,
// with `connect-src 'self'` in the pages' policy). A page hosted elsewhere: set it to the stack's `ApiUrl`
// output (no trailing slash), put the same origin in the Content-Security-Policy `connect-src` of index.html
// and account.html, and list the pages' origin in the stack's AllowedOrigins parameter. `make dev` serves its
// own copy of this file with the local API's URL.
export const API_BASE_URL = "http://localhost:3000";

// Local development only (`make dev ARGS=--jwt`): the dev issuer's token endpoint, which signs a token for
// a fixed development user. Leave it empty in production; signed-in pages get their access token from
// their own sign-in (see accessToken() in api.js).
export const DEV_TOKEN_URL = "";

