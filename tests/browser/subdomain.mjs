// The auth server on its own subdomain: Gatehouse on auth.example.com (TRUSTED_ORIGINS,
// COOKIE_DOMAIN=example.com) for an app on app.example.com, which is a page with Better Auth's
// client (bundled by esbuild) and a server route that reads the session from the cookie it gets.
// (Not *.localhost: Chromium makes each *.localhost host its own site, so it refuses both a
// SameSite=Lax cookie set by auth.localhost in a fetch from app.localhost and Domain=localhost.)
import http from "node:http";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { build } from "esbuild";
import { check, must, show } from "../client/checks.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));

/** Adds the checks; returns the app's server (close it at the end). */
export async function subdomainChecks({ browser, AUTH_ORIGIN, APP_ORIGIN, AUTH2, APP2 }) {
  const bundle = await build({
    stdin: {
      contents: `import { createAuthClient } from "better-auth/client";
  window.authClient = createAuthClient({ baseURL: ${JSON.stringify(AUTH_ORIGIN)} });`,
      resolveDir: here,
      loader: "js",
    },
    bundle: true,
    format: "iife",
    platform: "browser",
    write: false,
    logLevel: "error",
  });
  // The app on app.example.com: a page with the client, and a server route that reads the session
  // from the cookie it receives (COOKIE_DOMAIN scopes it to example.com) by asking Gatehouse.
  const appServer = http
    .createServer(async (req, res) => {
      if (req.url === "/client.js") return res.end(bundle.outputFiles[0].text);
      if (req.url === "/session") {
        const r = await fetch(`http://127.0.0.1:${AUTH2}/api/auth/get-session`, { headers: { cookie: req.headers.cookie ?? "" } });
        return res.end(await r.text());
      }
      res.setHeader("content-type", "text/html");
      res.end(`<!doctype html><html lang="en"><title>app</title><script src="/client.js"></script>`);
    })
    .listen(APP2, "127.0.0.1");

  check("auth.example.com serves app.example.com: sign in, the session seen by the browser and the app's server, sign out", async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${APP_ORIGIN}/`);
    const who = `cross-${randomBytes(5).toString("hex")}@example.com`;
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

  check("a site not in TRUSTED_ORIGINS gets no CORS answer and cannot sign in", async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.route("http://other.example.org/", (route) => route.fulfill({ contentType: "text/html", body: "<title>x</title>" }));
    await page.goto("http://other.example.org/");
    const out = await page.evaluate(async (auth) => {
      try {
        await fetch(`${auth}/api/auth/sign-in/email`, {
          method: "POST",
          credentials: "include",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email: "x@example.com", password: "whatever-1" }),
        });
        return "read";
      } catch {
        return "blocked";
      }
    }, AUTH_ORIGIN);
    must(out === "blocked", `the answer was readable: ${out}`);
    await ctx.close();
  });

  return appServer;
}
