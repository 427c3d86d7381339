// Passkeys in a real browser: Debian's chromium with Chrome's virtual authenticator (CDP
// WebAuthn domain), driven by playwright-core, and Better Auth's own client (`passkeyClient`)
// bundled for the page by esbuild. The page is served by this script on Gatehouse's origin
// (Playwright answers that one URL), so cookies and the WebAuthn origin are Gatehouse's.
//   node passkeys.mjs http://localhost:PORT        (CHROMIUM: the browser, default /usr/bin/chromium)
// Gatehouse must run with BASE_URL=http://localhost:PORT (an IP address cannot be a relying party).
import { randomBytes } from "node:crypto";
import { chromium } from "playwright-core";
import { check, must, run, show } from "../client/checks.mjs";
import { bundleClient } from "./bundle.mjs";

const BASE = process.argv[2].replace(/\/+$/, "");
const bundle = await bundleClient(`import { createAuthClient } from "better-auth/client";
import { passkeyClient } from "@better-auth/passkey/client";
window.authClient = createAuthClient({ baseURL: location.origin, plugins: [passkeyClient()] });`);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium" });
const context = await browser.newContext();
const page = await context.newPage();
await page.route(`${BASE}/__passkeys`, (route) =>
  route.fulfill({ contentType: "text/html", body: "<!doctype html><title>passkeys</title>" }),
);
await page.goto(`${BASE}/__passkeys`);
await page.addScriptTag({ content: bundle });
const cdp = await context.newCDPSession(page);
await cdp.send("WebAuthn.enable", { enableUI: false });
const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
  options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
});

const email = `passkey-${randomBytes(6).toString("hex")}@example.com`;

check("signUp.email, then passkey.addPasskey registers a passkey", async () => {
  const out = await page.evaluate(async (email) => {
    const up = await authClient.signUp.email({ email, password: "passkey-password-1", name: "Pat" });
    const added = await authClient.passkey.addPasskey({ name: "laptop" });
    return { up: up.error, added: added.error ?? added.data };
  }, email);
  must(!out.up && out.added?.credentialID && out.added.name === "laptop", `registration ${show(out)}`);
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  must(credentials.length === 1 && credentials[0].isResidentCredential, `authenticator ${show(credentials)}`);
});

check("signOut, then signIn.passkey signs back in without a user name", async () => {
  const out = await page.evaluate(async () => {
    await authClient.signOut();
    const before = (await authClient.getSession()).data;
    const signedIn = await authClient.signIn.passkey();
    const after = (await authClient.getSession()).data;
    return { before, error: signedIn.error, email: after?.user?.email };
  });
  must(out.before === null && !out.error && out.email === email, `sign-in ${show(out)}`);
});

// (The browser itself refuses here: the server's own check is tested with the software passkey.)
check("an authenticator that cannot verify the user does not sign in", async () => {
  await cdp.send("WebAuthn.setUserVerified", { authenticatorId, isUserVerified: false });
  const out = await page.evaluate(async () => {
    await authClient.signOut();
    const signedIn = await authClient.signIn.passkey();
    return { error: signedIn.error?.code ?? signedIn.error?.status, session: (await authClient.getSession()).data };
  });
  must(out.error && out.session === null, `refused ${show(out)}`);
});

try {
  await run();
} finally {
  await browser.close();
}
