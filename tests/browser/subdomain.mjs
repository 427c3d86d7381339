// The auth server on its own subdomain: Gatehouse on auth.example.com (TRUSTED_ORIGINS,
// COOKIE_DOMAIN=example.com) for an app on app.example.com, which is a page with Better Auth's
// client (bundled by esbuild) and a server route that reads the session from the cookie it gets.
// (Not *.localhost: Chromium makes each *.localhost host its own site, so it refuses both a
// SameSite=Lax cookie set by auth.localhost in a fetch from app.localhost and Domain=localhost.)
import http from "node:http";
import { randomBytes } from "node:crypto";
import { bundleClient } from "./bundle.mjs";
import { check, must, show } from "../client/checks.mjs";

/** Adds the checks; returns the app's server (close it at the end). */
export async function subdomainChecks({ browser, AUTH_ORIGIN, APP_ORIGIN, AUTH2, APP2 }) {
  const bundle = await bundleClient(`import { createAuthClient } from "better-auth/client";
window.authClient = createAuthClient({ baseURL: ${JSON.stringify(AUTH_ORIGIN)} });`);

  // The app on app.example.com: a page with the client, and a server route that reads the session
  // from the cookie it receives (COOKIE_DOMAIN scopes it to example.com) by asking Gatehouse.
  const appServer = http
    .createServer(async (req, res) => {
      if (req.url === "/client.js") return res.end(bundle);
      if (req.url === "/session") {
        const r = await fetch(`http://127.0.0.1:${AUTH2}/api/auth/get-session`, { headers: { cookie: req.headers.cookie ?? "" } });
        return res.end(await r.text());
      }
      res.setHeader("content-type", "text/html");
      res.end(`<!doctype html><html lang="en"><title>app</title><script src="/client.js"></script>`);
    })
    .listen(APP2, "127.0.0.1");

  const who = `cross-${randomBytes(5).toString("hex")}@example.com`;

  check("auth.example.com serves app.example.com: sign in, the session seen by the browser and the app's server, sign out", async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${APP_ORIGIN}/`);
    const out = await page.evaluate(async (who) => {
      const up = await authClient.signUp.email({ email: who, password: "cross-password-1", name: "Cross" });
      const browserSees = (await authClient.getSession()).data?.user?.email ?? null;
      const appSees = (await (await fetch("/session")).json())?.user?.email ?? null;
      const out = await authClient.signOut();
      const afterBrowser = (await authClient.getSession()).data;
      const afterApp = await (await fetch("/session")).json();
      return { up: up.error, browserSees, appSees, out: out.error, afterBrowser, afterApp };
    }, who);
    must(!out.up && out.browserSees === who && out.appSees === who, `signed in ${show(out)}`);
    must(!out.out && out.afterBrowser === null && out.afterApp === null, `signed out ${show(out)}`);
    const cookie = (await ctx.cookies(APP_ORIGIN)).find((c) => c.name.endsWith("session_token"));
    must(cookie === undefined, `cookie left ${show(cookie)}`);
    await ctx.close();
  });

  check("a site not in TRUSTED_ORIGINS can neither read an answer nor sign anyone in", async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    // The app's page, on a host Gatehouse does not trust (loopback too, so that Chromium's
    // private-network rules are not what stops it).
    await page.goto(`http://other.example.org:${APP2}/`);
    // With the right password: a JSON post (preflighted) and a "simple" one that needs no
    // preflight and reaches the server whatever CORS says.
    const tries = await page.evaluate(
      async ({ auth, who }) => {
        const body = JSON.stringify({ email: who, password: "cross-password-1" });
        const inits = [
          { method: "POST", credentials: "include", headers: { "content-type": "application/json" }, body },
          { method: "POST", credentials: "include", mode: "no-cors", headers: { "content-type": "text/plain" }, body },
        ];
        const out = [];
        for (const init of inits) {
          try {
            const r = await fetch(`${auth}/api/auth/sign-in/email`, init);
            out.push(r.type === "opaque" ? "opaque" : `read ${r.status}`);
          } catch {
            out.push("blocked");
          }
        }
        return out;
      },
      { auth: AUTH_ORIGIN, who },
    );
    must(show(tries) === show(["blocked", "opaque"]), `answers ${show(tries)}`);
    await ctx.close();
    // The server made no session for them: signing in from the app shows one session, its own.
    const app = await browser.newContext();
    const mine = await app.newPage();
    await mine.goto(`${APP_ORIGIN}/`);
    const sessions = await mine.evaluate(async (who) => {
      await authClient.signIn.email({ email: who, password: "cross-password-1" });
      const listed = (await authClient.listSessions()).data?.length;
      await authClient.signOut();
      return listed;
    }, who);
    must(sessions === 1, `${sessions} sessions after the other site's tries`);
    await app.close();
  });

  return appServer;
}
