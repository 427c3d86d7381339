// Usernames and token pairs with the official Better Auth client (`usernameClient`) against a
// running Gatehouse. Run from a folder where `better-auth` is installed (.ci/run copies it next
// to the client smoke test, with checks.mjs):
//   node username.mjs http://127.0.0.1:PORT
// The availability routes allow 10 calls a minute per client: this script makes 4 of each.
// Prints "ok - …" / "not ok - …" per check and ends with "N passed, N failed".
import { randomBytes } from "node:crypto";
import { createAuthClient } from "better-auth/client";
import { usernameClient } from "better-auth/client/plugins";
import { browserFetch, check, must, run, show } from "./checks.mjs";

const BASE = process.argv[2].replace(/\/+$/, "");
const PASSWORD = "username-password-1";
// The plugin's error codes: the client's `$ERROR_CODES` is only a type; at run time the codes
// live on the plugin object.
const plugin = usernameClient();

/** A browser-like client: its own cookies, an Origin header. */
function browser() {
  return createAuthClient({
    baseURL: BASE,
    fetchOptions: { customFetchImpl: browserFetch(BASE) },
    plugins: [usernameClient()],
  });
}

const hex = () => randomBytes(4).toString("hex");
/** Every error the server answered (code → message), to hold against the plugin's list. */
const seen = new Map();
const coded = (error) => (error?.code && seen.set(error.code, error.message), error);

/** `POST /api/auth/token/<path>` as a server or mobile app sends it: no cookie, no Origin. */
async function tokenRoute(path, body) {
  const res = await fetch(`${BASE}/api/auth/token/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

const state = {};

check("signUp.email keeps a mixed-case username; signIn.username and getSession show it", async () => {
  state.typed = `Ada.Name_${hex()}`;
  state.username = state.typed.toLowerCase();
  state.email = `username-${hex()}@example.com`;
  const up = await browser().signUp.email({ email: state.email, password: PASSWORD, name: "Ada", username: state.typed });
  must(!up.error && up.data.user.username === state.username, `sign-up ${show(up)}`);
  must(up.data.user.displayUsername === state.typed, `displayUsername ${show(up.data.user)}`);
  const b = browser();
  const res = await b.signIn.username({ username: state.typed, password: PASSWORD });
  must(!res.error && typeof res.data.token === "string" && res.data.redirect === false, `sign-in ${show(res)}`);
  must(res.data.user.email === state.email && res.data.user.username === state.username, `sign-in user ${show(res.data.user)}`);
  const session = await b.getSession();
  const user = session.data?.user;
  must(user?.username === state.username && user.displayUsername === state.typed, `session ${show(session.data)}`);
  state.ada = b;
});

check("isUsernameAvailable: taken in any case, free for a fresh name, 422 for a short one; is-email-available", async () => {
  const b = browser();
  const taken = await b.isUsernameAvailable({ username: state.typed.toUpperCase() });
  must(!taken.error && taken.data.available === false, `taken ${show(taken)}`);
  const fresh = await b.isUsernameAvailable({ username: `fresh_${hex()}` });
  must(!fresh.error && fresh.data.available === true, `fresh ${show(fresh)}`);
  const short = coded((await b.isUsernameAvailable({ username: "ab" })).error);
  must(short?.status === 422 && short.code === "USERNAME_TOO_SHORT", `short ${show(short)}`);
  const email = (e) => b.$fetch("/is-email-available", { method: "POST", body: { email: e } });
  const used = await email(state.email.toUpperCase());
  must(!used.error && used.data.available === false, `used email ${show(used)}`);
  const free = await email(`free-${hex()}@example.com`);
  must(!free.error && free.data.available === true, `free email ${show(free)}`);
});

check("signIn.username: wrong password and unknown name are 401 INVALID_USERNAME_OR_PASSWORD; malformed names are 422", async () => {
  const b = browser();
  const wrong = coded((await b.signIn.username({ username: state.username, password: "not-the-password" })).error);
  must(wrong?.status === 401 && wrong.code === "INVALID_USERNAME_OR_PASSWORD", `wrong password ${show(wrong)}`);
  const unknown = coded((await b.signIn.username({ username: `nobody_${hex()}`, password: PASSWORD })).error);
  must(unknown?.status === 401 && unknown.code === "INVALID_USERNAME_OR_PASSWORD", `unknown ${show(unknown)}`);
  for (const [username, code] of [["ab", "USERNAME_TOO_SHORT"], ["a".repeat(31), "USERNAME_TOO_LONG"], ["no spaces", "INVALID_USERNAME"]]) {
    const error = coded((await b.signIn.username({ username, password: PASSWORD })).error);
    must(error?.status === 422 && error.code === code, `${show(username)} ${show(error)}`);
  }
  must((await b.getSession()).data === null, "no session after failed sign-ins");
});

check("updateUser: a taken username is 400 USERNAME_IS_ALREADY_TAKEN; a free one replaces it", async () => {
  const b = browser();
  const up = await b.signUp.email({ email: `username-${hex()}@example.com`, password: PASSWORD, name: "Bob", username: `bob_${hex()}` });
  must(!up.error, `sign-up ${show(up)}`);
  const taken = coded((await b.updateUser({ username: state.typed.toUpperCase() })).error);
  must(taken?.status === 400 && taken.code === "USERNAME_IS_ALREADY_TAKEN", `taken ${show(taken)}`);
  const typed = `Bobby.${hex()}`;
  const done = await b.updateUser({ username: typed, displayUsername: "Bobby B." });
  must(!done.error && done.data.status === true, `update ${show(done)}`);
  const user = (await b.getSession({ query: { disableCookieCache: true } })).data?.user;
  must(user?.username === typed.toLowerCase() && user.displayUsername === "Bobby B.", `session ${show(user)}`);
  const res = await browser().signIn.username({ username: typed, password: PASSWORD });
  must(!res.error && res.data.user.username === typed.toLowerCase(), `sign-in with the new name ${show(res)}`);
});

check("every error code the server sent is in usernameClient's $ERROR_CODES, with its message", async () => {
  must(seen.size >= 5, `codes seen ${show([...seen])}`);
  const missing = [...seen].filter(([code, message]) => plugin.$ERROR_CODES[code]?.message !== message);
  must(missing.length === 0, `not in $ERROR_CODES as sent: ${show(missing)}`);
});

check("issueTokens gives a token pair; /token/refresh rotates it; a spent refresh token ends the session", async () => {
  const b = browser();
  const res = await b.signIn.username({ username: state.username, password: PASSWORD, issueTokens: true });
  const d = res.data;
  must(!res.error && typeof d.token === "string" && d.user.username === state.username, `sign-in ${show(res)}`);
  must(typeof d.accessToken === "string" && typeof d.refreshToken === "string", `pair ${show(d)}`);
  must(d.expiresIn > 0 && d.refreshTokenExpiresIn > 0, `lifetimes ${show(d)}`);
  const next = await tokenRoute("refresh", { refresh_token: d.refreshToken });
  const n = next.body;
  must(next.status === 200 && n.token_type === "Bearer" && typeof n.access_token === "string", `refresh ${show(next)}`);
  must(n.expires_in > 0 && n.refresh_token_expires_in > 0 && typeof n.refresh_token === "string", `refresh ${show(next)}`);
  must(n.refresh_token !== d.refreshToken && n.access_token !== d.accessToken, `not rotated ${show(next)}`);
  must((await b.getSession()).data?.user?.username === state.username, "session alive after a refresh");
  const reuse = await tokenRoute("refresh", { refresh_token: d.refreshToken });
  must(reuse.status === 401 && reuse.body?.code === "REFRESH_TOKEN_REUSED", `reuse ${show(reuse)}`);
  must((await b.getSession()).data === null, "session ended after the reuse");
  const after = await tokenRoute("refresh", { refresh_token: n.refresh_token });
  must(after.status === 401, `the family's newest token after the reuse ${show(after)}`);
});

await run();
