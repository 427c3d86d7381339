// Social sign-in with the official Better Auth client against a running Gatehouse whose `google`
// provider points at the OpenID provider stand-in (provider.mjs). Run from a folder where
// `better-auth` is installed (.ci/run copies it, with ../client/checks.mjs, next to the client
// smoke test):
//   node client-social.mjs http://127.0.0.1:PORT http://127.0.0.1:OP_PORT
// Prints "ok - …" / "not ok - …" per check and ends with "N passed, N failed".
import { randomBytes } from "node:crypto";
import { createAuthClient } from "better-auth/client";
import { browserFetch, check, jar, must, run, show } from "./checks.mjs";

const BASE = process.argv[2].replace(/\/+$/, "");
const ISSUER = process.argv[3].replace(/\/+$/, "");

/** A browser-like client: its own cookies, an Origin header, redirects not followed. */
function browser() {
  const fetchImpl = browserFetch(BASE);
  const client = createAuthClient({ baseURL: BASE, fetchOptions: { customFetchImpl: fetchImpl } });
  return { client, fetch: fetchImpl };
}

/** The provider's login and consent pages, as `login`: the URL it sends the browser back to. */
async function logIn(url, login) {
  const cookies = jar();
  const send = async (u, init = {}) => {
    const res = await fetch(u, { ...init, redirect: "manual", headers: { ...(init.headers || {}), cookie: cookies.header() } });
    cookies.take(res);
    return res;
  };
  for (let i = 0; i < 12; i++) {
    if (!url.startsWith(ISSUER)) return url;
    let res;
    if (url.includes("/interaction/")) {
      const page = await (await send(url)).text();
      const form = page.includes('name="login"') ? { prompt: "login", login, password: "any" } : { prompt: "consent" };
      res = await send(url, { method: "POST", body: new URLSearchParams(form), headers: { "content-type": "application/x-www-form-urlencoded" } });
    } else {
      res = await send(url);
    }
    const location = res.headers.get("location");
    if (!location) throw new Error(`no redirect from ${url}: ${res.status}`);
    url = location.startsWith("/") ? ISSUER + location : location;
  }
  throw new Error("the provider's pages did not lead back");
}

/** Follows a provider sign-in started by the client to its end at Gatehouse's callback. */
async function complete(b, data, login) {
  must(data?.url?.startsWith(ISSUER), `authorization url ${show(data)}`);
  const back = await logIn(data.url, login);
  must(back.startsWith(`${BASE}/api/auth/callback/google`), `callback ${back}`);
  const res = await b.fetch(back);
  must(res.status === 302, `callback answered ${res.status}`);
  return res.headers.get("location");
}

const email = () => `social-${randomBytes(6).toString("hex")}@example.com`;

check("signIn.social signs a new user in through the provider", async () => {
  const b = browser();
  const e = email();
  const { data, error } = await b.client.signIn.social({ provider: "google", callbackURL: "/home", newUserCallbackURL: "/welcome", disableRedirect: true });
  must(!error, `error ${show(error)}`);
  must((await complete(b, data, e)) === "/welcome", "new users go to newUserCallbackURL");
  const session = await b.client.getSession();
  must(session.data?.user?.email === e && session.data.user.emailVerified === true, `session ${show(session.data)}`);
});

check("listAccounts shows the provider account, without tokens", async () => {
  const b = browser();
  const e = email();
  const { data } = await b.client.signIn.social({ provider: "google", callbackURL: "/home", disableRedirect: true });
  await complete(b, data, e);
  const accounts = await b.client.listAccounts();
  must(!accounts.error && accounts.data.length === 1, `accounts ${show(accounts)}`);
  const [a] = accounts.data;
  must(a.providerId === "google" && a.accountId === e && !("accessToken" in a), `account ${show(a)}`);
});

check("linkSocial links the provider to a password user; unlinkAccount keeps the last way in", async () => {
  const b = browser();
  const e = email();
  const up = await b.client.signUp.email({ email: e, password: "social-password-1", name: "Social" });
  must(!up.error, `sign-up ${show(up.error)}`);
  const { data, error } = await b.client.linkSocial({ provider: "google", callbackURL: "/linked", disableRedirect: true });
  must(!error, `linkSocial ${show(error)}`);
  must((await complete(b, data, e)) === "/linked", "back to callbackURL");
  const accounts = (await b.client.listAccounts()).data;
  must(accounts.map((a) => a.providerId).sort().join() === "credential,google", `accounts ${show(accounts)}`);
  const google = accounts.find((a) => a.providerId === "google");
  const un = await b.client.unlinkAccount({ providerId: "google", accountId: google.accountId });
  must(!un.error, `unlink ${show(un.error)}`);
  const last = await b.client.unlinkAccount({ providerId: "credential" });
  must(last.error?.code === "FAILED_TO_UNLINK_LAST_ACCOUNT", `last ${show(last.error)}`);
});

check("an unknown provider is 404 PROVIDER_NOT_FOUND", async () => {
  const { error } = await browser().client.signIn.social({ provider: "myspace", disableRedirect: true });
  must(error?.status === 404 && error.code === "PROVIDER_NOT_FOUND", `error ${show(error)}`);
});

await run();
