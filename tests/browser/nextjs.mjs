// The Next.js example (examples/nextjs) in a real browser: Debian's chromium driven by
// playwright-core, against a production build of the example (`next build`, `next start`) behind
// nginx, and a running Gatehouse (see stack.mjs). Run by .ci/run:
//   node tests/browser/nextjs.mjs path/to/gatehouse examples/nextjs
// (CHROMIUM: the browser, default /usr/bin/chromium; NGINX: default /usr/sbin/nginx;
//  SCREENSHOTS: where the built-in pages' screenshots go, default tests/browser/screenshots; the
//  .png files already in it are deleted first.)
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { check, must, run, show } from "../client/checks.mjs";
import { axeFindings, builtInPageChecks } from "./builtin-pages.mjs";
import { mailedBy, startStack } from "./stack.mjs";
import { subdomainChecks } from "./subdomain.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const SHOTS = resolve(process.env.SCREENSHOTS || join(here, "screenshots"));
mkdirSync(SHOTS, { recursive: true });
// Only this run's screenshots are collected: earlier runs' pictures go first.
for (const old of readdirSync(SHOTS, { withFileTypes: true })) {
  if (old.isFile() && old.name.endsWith(".png")) rmSync(join(SHOTS, old.name));
}

const { APP, PATH_RULE, GATEHOUSE_URL, NEXT, main, cross, AUTH_ORIGIN, APP_ORIGIN, AUTH2, APP2 } = await startStack(
  resolve(process.argv[2]),
  resolve(process.argv[3]),
);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--host-resolver-rules=MAP *.example.com 127.0.0.1, MAP *.example.org 127.0.0.1"],
});

// Every context waits 10 s at most for what it expects (not Playwright's 30 s).
const newContext = browser.newContext.bind(browser);
browser.newContext = async (options) => {
  const context = await newContext(options);
  context.setDefaultTimeout(10_000);
  return context;
};

const email = `ada-${randomBytes(5).toString("hex")}@example.com`;
let password = "first-password-1";

async function signIn(page, who = email, pass = password, origin = APP) {
  await page.goto(`${origin}/sign-in`);
  await page.getByLabel("Email").fill(who);
  await page.getByLabel("Password").fill(pass);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${origin}/dashboard`);
}

/** The message the sign-in form shows for these credentials. */
async function refusal(page, who, pass) {
  await page.goto(`${APP}/sign-in`);
  await page.getByLabel("Email").fill(who);
  await page.getByLabel("Password").fill(pass);
  await page.getByRole("button", { name: "Sign in" }).click();
  // (Next.js's route announcer is an empty role=alert too.)
  return page.locator("p.error[role=alert]").textContent();
}

/** True when this page, reloaded, is sent to sign-in (its session ended). */
async function signedOut(page) {
  await page.goto(`${APP}/dashboard`);
  return new URL(page.url()).pathname === "/sign-in";
}

const a = await browser.newContext();
const pageA = await a.newPage();

// ---- journeys --------------------------------------------------------------------------------
check("sign up → the dashboard shows the user", async () => {
  await pageA.goto(`${APP}/sign-up`);
  await pageA.getByLabel("Name").fill("Ada");
  await pageA.getByLabel("Email").fill(email);
  await pageA.getByLabel("Password").fill(password);
  await pageA.getByRole("button", { name: "Create account" }).click();
  await pageA.waitForURL(`${APP}/dashboard`);
  const shown = await pageA.getByTestId("user-email").textContent();
  must(shown === email, `dashboard shows ${show(shown)}`);
});

check("the session cookie is HttpOnly and SameSite=Lax: document.cookie does not see it", async () => {
  const cookies = await a.cookies(APP);
  const session = cookies.find((c) => c.name === "better-auth.session_token");
  must(session?.httpOnly && session.sameSite === "Lax" && session.path === "/", `cookie ${show(session)}`);
  const visible = await pageA.evaluate(() => document.cookie);
  must(!visible.includes("session_token"), `document.cookie ${show(visible)}`);
});

check("server side: a route handler reads the session by forwarding the cookie", async () => {
  const me = await pageA.evaluate(async () => {
    const r = await fetch("/api/me");
    return { status: r.status, body: await r.json() };
  });
  must(me.status === 200 && me.body.user.email === email, `/api/me ${show(me)}`);
  const anon = await fetch(`http://127.0.0.1:${NEXT}/api/me`);
  must(anon.status === 401, `/api/me without a cookie answered ${anon.status}`);
});

check("behind the proxy, sessions carry the browser's address, not the proxy's, and a forged X-Forwarded-For is not believed", async () => {
  const forged = await browser.newContext({ extraHTTPHeaders: { "x-forwarded-for": "203.0.113.9" } });
  await signIn(await forged.newPage());
  await pageA.reload();
  await pageA.getByTestId("sessions").locator("li").nth(1).waitFor();
  const rows = await pageA.getByTestId("sessions").locator("li").allTextContents();
  must(rows.length === 2 && rows.every((r) => r.includes("· ::1")), `sessions ${show(rows)}`);
  await forged.pages()[0].getByRole("button", { name: "Sign out", exact: true }).click();
  await forged.pages()[0].waitForURL(`${APP}/sign-in`);
  await forged.close();
});

check("the README's path rule (/api/auth/ straight to Gatehouse) works too, with the browser's address", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await signIn(page, email, password, PATH_RULE);
  await page.getByTestId("sessions").locator("li").filter({ hasText: "(this device)" }).waitFor();
  const mine = await page.getByTestId("sessions").locator("li").filter({ hasText: "(this device)" }).textContent();
  must(mine.includes("· ::1"), `this session: ${show(mine)}`);
  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await page.waitForURL(`${PATH_RULE}/sign-in`);
  await ctx.close();
});

check("the example's own pages pass axe-core at phone and desktop widths", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await signIn(page);
  const paths = ["/dashboard", "/sign-in", "/sign-up", "/forgot-password", "/reset-password?token=x"];
  for (const path of paths) {
    await page.goto(`${APP}${path}`);
    await page.locator("h1").first().waitFor();
    for (const width of [390, 1280]) {
      await page.setViewportSize({ width, height: 800 });
      const found = await axeFindings(page);
      must(found.length === 0, `${path} at ${width}px: ${show(found)}`);
    }
  }
  await page.goto(`${APP}/dashboard`);
  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await page.waitForURL(`${APP}/sign-in`);
  await ctx.close();
});

check("a cross-site form post to sign-in is refused (no session for the other site)", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.route("http://elsewhere.example.com/", (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!doctype html><title>x</title><form method="post" action="${APP}/api/auth/sign-in/email">
        <input name="email" value="${email}"><input name="password" value="${password}"></form>`,
    }),
  );
  await page.goto("http://elsewhere.example.com/");
  const [answer] = await Promise.all([page.waitForNavigation(), page.evaluate(() => document.forms[0].submit())]);
  const body = await page.textContent("body");
  must(answer.status() === 403 && body.includes("INVALID_ORIGIN"), `answer ${answer.status()} ${show(body)}`);
  must(!(await ctx.cookies(APP)).some((c) => c.name.endsWith("session_token")), "a session cookie was set");
  await ctx.close();
});

check("the sign-in page has a button per configured provider, which starts that provider's sign-in", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  let asked = null;
  await page.route("https://github.example.com/**", (route) => {
    asked = new URL(route.request().url());
    return route.fulfill({ contentType: "text/html", body: "<title>GitHub</title>" });
  });
  await page.goto(`${APP}/sign-in`);
  await page.getByRole("button", { name: "Continue with github" }).waitFor();
  const buttons = await page.getByRole("button", { name: /^Continue with / }).allTextContents();
  must(buttons.length === 1 && buttons[0] === "Continue with github", `buttons ${show(buttons)}`);
  await page.getByRole("button", { name: "Continue with github" }).click();
  await page.waitForURL("https://github.example.com/**");
  must(
    asked.searchParams.get("client_id") === "example-client" &&
      asked.searchParams.get("redirect_uri") === `${APP}/api/auth/callback/github` &&
      asked.searchParams.get("state"),
    `authorize request ${asked}`,
  );
  await ctx.close();
});

check("sign out → the protected page redirects to sign-in", async () => {
  await pageA.goto(`${APP}/dashboard`);
  const ended = (await a.cookies(APP)).map((c) => `${c.name}=${c.value}`).join("; ");
  await pageA.getByRole("button", { name: "Sign out", exact: true }).click();
  await pageA.waitForURL(`${APP}/sign-in`);
  must(await signedOut(pageA), `dashboard stayed at ${pageA.url()}`);
  const me = await fetch(`http://127.0.0.1:${NEXT}/api/me`, { headers: { cookie: ended } });
  must(me.status === 401, `/api/me with the ended session's cookie answered ${me.status}`);
});

check("sign in with a wrong password shows the contract's message", async () => {
  const alert = await refusal(pageA, email, "not-the-password");
  must(alert === "Invalid email or password", `alert ${show(alert)}`);
  must(new URL(pageA.url()).pathname === "/sign-in", `went to ${pageA.url()}`);
});

check("the verification link, opened in the browser, comes back to a dashboard that says verified", async () => {
  await signIn(pageA);
  must((await pageA.getByTestId("email-verified").textContent()) === "Email not verified", "already verified");
  const link = await mailedBy(main, "verify", email, async () => {
    await pageA.getByRole("button", { name: "Send a verification link" }).click();
    await pageA.getByRole("status").waitFor();
  });
  await pageA.goto(link);
  await pageA.waitForURL(`${APP}/dashboard`);
  const shown = await pageA.getByTestId("email-verified").textContent();
  must(shown === "Email verified", `dashboard says ${show(shown)}`);
});

check("create an organization, switch to it and back: the subscription follows", async () => {
  await pageA.getByLabel("New organization").fill("Acme Rockets");
  await pageA.getByRole("button", { name: "Create" }).click();
  const option = pageA.locator("#org option", { hasText: "Acme Rockets" });
  await option.waitFor({ state: "attached" });
  const orgId = await option.getAttribute("value");
  main.cli("subscription", "set", "--reference", orgId, "--plan", "pro");
  // Each switch is awaited at the server before the next, then the refreshed page is read.
  const choose = async (value, shown) => {
    await Promise.all([
      pageA.waitForResponse((r) => r.url().includes("/organization/set-active") && r.ok()),
      pageA.getByLabel("Active organization").selectOption(value),
    ]);
    await pageA.getByTestId("subscription").filter({ hasText: shown }).waitFor();
  };
  await choose("", "none");
  await choose(orgId, "pro (active)");
  await choose("", "none");
});

check("get a JWT: the claims are shown and the app's API route accepts it", async () => {
  await pageA.getByRole("button", { name: "Get a JWT" }).click();
  const claims = JSON.parse(await pageA.getByTestId("jwt-claims").textContent());
  must(claims.email === email && claims.iss === APP && claims.exp > claims.iat, `claims ${show(claims)}`);
  const accepted = JSON.parse(await pageA.getByTestId("jwt-accepted").textContent());
  must(accepted.ok === true && accepted.sub === claims.sub, `API route said ${show(accepted)}`);
  const asked = (token) =>
    pageA.evaluate(async (token) => {
      const r = await fetch("/api/protected", { headers: { authorization: `Bearer ${token}` } });
      return r.status;
    }, token);
  // Refused: unsigned, a changed payload, and a token of another Gatehouse (other keys, issuer).
  const real = await pageA.evaluate(async () => (await (await fetch("/api/auth/token")).json()).token);
  const [head, body, sig] = real.split(".");
  const changed = Buffer.from(JSON.stringify({ ...claims, sub: "someone-else" })).toString("base64url");
  const up = await fetch(`${AUTH_ORIGIN.replace("auth.example.com", "127.0.0.1")}/api/auth/sign-up/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: AUTH_ORIGIN },
    body: JSON.stringify({ email: `other-${email}`, password: "other-password-1", name: "Other" }),
  });
  const otherCookie = up.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const other = await fetch(`${AUTH_ORIGIN.replace("auth.example.com", "127.0.0.1")}/api/auth/token`, {
    headers: { cookie: otherCookie },
  });
  const foreign = (await other.json()).token;
  must(body && foreign, "tokens to tamper with");
  const statuses = await Promise.all(
    ["eyJhbGciOiJub25lIn0.e30.", `${head}.${changed}.${sig}`, foreign, real].map(asked),
  );
  must(show(statuses) === show([401, 401, 401, 200]), `the API route answered ${show(statuses)}`);
});

const b = await browser.newContext();
const pageB = await b.newPage();

check("a second browser signs in as the same user; 'sign out other devices' on the first ends it", async () => {
  await signIn(pageB);
  await pageA.reload();
  await pageA.getByTestId("sessions").locator("li").nth(1).waitFor();
  must((await pageA.getByTestId("sessions").locator("li").count()) === 2, "two sessions not listed");
  await pageA.getByRole("button", { name: "Sign out other devices" }).click();
  await pageA.getByRole("status").filter({ hasText: "Signed out of every other device" }).waitFor();
  must(await signedOut(pageB), "the second browser is still signed in");
  must(!(await signedOut(pageA)), "the first browser was signed out too");
});

check("forgot password → the mailed link → the app's reset page → the new password works and other sessions end", async () => {
  await signIn(pageB);
  const c = await browser.newContext();
  const page = await c.newPage();
  await page.goto(`${APP}/forgot-password`);
  await page.getByLabel("Email").fill(email);
  const link = await mailedBy(main, "reset", email, async () => {
    await page.getByRole("button", { name: "Send a reset link" }).click();
    await page.getByRole("status").waitFor();
  });
  await page.goto(link);
  await page.waitForURL((u) => u.pathname === "/reset-password" && u.searchParams.has("token"));
  password = "second-password-2";
  await page.getByLabel("New password").fill(password);
  await page.getByRole("button", { name: "Set new password" }).click();
  await page.getByRole("heading", { name: "Password changed" }).waitFor();
  must(await signedOut(pageA), "the first browser is still signed in");
  must(await signedOut(pageB), "the second browser is still signed in");
  const old = await refusal(page, email, "first-password-1");
  must(old === "Invalid email or password", `the old password: ${show(old)}`);
  await signIn(page);
  await c.close();
});


await builtInPageChecks({ browser, main, APP, GATEHOUSE_URL, SHOTS, email });
const appServer = await subdomainChecks({ browser, cross, AUTH_ORIGIN, APP_ORIGIN, AUTH2, APP2 });

// (run() exits the process: the servers and the browser end with it.)
void appServer;
await run();
