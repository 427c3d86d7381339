// Gatehouse's built-in pages (reset form, reset done, verification success and failure, the
// sign-in error page), opened through the app's origin: each is photographed at phone and desktop
// widths into the screenshots folder and checked with axe-core (no serious or critical issue).
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { check, must, show } from "../client/checks.mjs";
import { mailedBy } from "./stack.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const axe = readFileSync(join(here, "node_modules/axe-core/axe.min.js"), "utf8");

/** axe-core's serious and critical findings on the page as it is now (its context needs
 *  `bypassCSP` where the page has a CSP: Gatehouse's pages allow no scripts). */
export async function axeFindings(page) {
  if (!(await page.evaluate(() => "axe" in window))) await page.addScriptTag({ content: axe });
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id);
  });
}

/** Adds the checks; `email` is a signed-up user of `main` (their password is changed). */
export async function builtInPageChecks({ browser, main, APP, GATEHOUSE_URL, SHOTS, email }) {
  let password; // what the reset pages set
  const pages = await browser.newContext({ bypassCSP: true }); // so axe-core can be injected
  const viewer = await pages.newPage();

  /** Opens `url` once (then `submit`s on it, if given), and checks and photographs the page at
   *  phone and desktop widths: its heading, that it fits, no outside requests, axe-core. */
  async function inspect(name, url, expect, { submit } = {}) {
    await viewer.setViewportSize({ width: 390, height: 844 });
    await viewer.goto(url);
    if (submit) await submit(viewer);
    for (const [width, height, label] of [[390, 844, "phone"], [1280, 800, "desktop"]]) {
      await viewer.setViewportSize({ width, height });
      const heading = await viewer.locator("h1").textContent();
      must(heading === expect, `${name}: heading ${show(heading)}`);
      const fits = await viewer.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
      must(fits, `${name}: wider than the ${label} viewport`);
      await viewer.screenshot({ path: join(SHOTS, `${name}-${label}.png`), fullPage: true });
      const found = await axeFindings(viewer);
      must(found.length === 0, `${name} (${label}): axe-core found ${show(found)}`);
    }
    const external = await viewer.evaluate(() =>
      performance.getEntriesByType("resource").map((e) => e.name).filter((n) => !n.startsWith(location.origin)),
    );
    must(external.length === 0, `${name}: loads ${show(external)}`);
  }

  /** A reset link without callbackURL: it opens Gatehouse's own form. */
  async function builtInResetLink(to) {
    return mailedBy(main, "reset", to, async () => {
      const r = await fetch(`${GATEHOUSE_URL}/api/auth/request-password-reset`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: to }),
      });
      must(r.ok, `request-password-reset ${r.status}`);
    });
  }

  check("built-in page: the reset form (and the same form saying why a password was refused)", async () => {
    const link = await builtInResetLink(email);
    await inspect("reset-form", link, "Reset your password");
    await inspect("reset-form-refused", link, "Reset your password", {
      submit: async (p) => {
        await p.getByLabel("New password").evaluate((i) => i.removeAttribute("minlength"));
        await p.getByLabel("New password").fill("short");
        await p.getByRole("button", { name: "Set new password" }).click();
        await p.getByRole("alert").waitFor();
      },
    });
  });

  check("built-in page: reset done, then the used link says it is not valid", async () => {
    const link = await builtInResetLink(email);
    password = "third-password-3";
    await inspect("reset-done", link, "Password changed", {
      submit: async (p) => {
        await p.getByLabel("New password").fill(password);
        await p.getByRole("button", { name: "Set new password" }).click();
        await p.locator("h1", { hasText: "Password changed" }).waitFor();
      },
    });
    await inspect("reset-link-not-valid", link, "Link not valid");
  });

  check("built-in page: verification success and failure", async () => {
    const other = `grace-${randomBytes(5).toString("hex")}@example.com`;
    const post = (path, body, headers = {}) =>
      fetch(`${GATEHOUSE_URL}/api/auth/${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    // Sign-up mails a link; a new one replaces it. The new one, without callbackURL, opens
    // Gatehouse's own page.
    await mailedBy(main, "verify", other, async () => {
      const up = await post("sign-up/email", { email: other, password: "grace-password-1", name: "Grace" }, { origin: APP });
      must(up.ok, `sign-up ${up.status}`);
    });
    const sent = await mailedBy(main, "verify", other, () => post("send-verification-email", { email: other }));
    const link = new URL(sent);
    link.searchParams.delete("callbackURL");
    await inspect("verification-success", link.href, "Email verified");
    link.searchParams.set("token", "not-a-token");
    await inspect("verification-failure", link.href, "Link not valid");
  });

  check("built-in page: the sign-in error page, for every code it names", async () => {
    await inspect("error-page", `${APP}/api/auth/error?error=state_mismatch`, "Sign-in failed");
    const text = async (code) => {
      await viewer.goto(`${APP}/api/auth/error?error=${encodeURIComponent(code)}`);
      return viewer.locator("main p").first().textContent();
    };
    const fallback = await text("something_else");
    const codes = ["state_not_found", "state_mismatch", "account_not_linked", "account_already_linked_to_different_user",
      "email_not_found", "email_not_verified", "signup_disabled", "account_locked", "issuer_mismatch", "issuer_missing",
      "invalid_code", "no_code", "access_denied", "banned", "unauthorized", "two_factor_required",
      "two_factor_setup_required", "oauth_provider_not_found", "unable_to_link_account", "email_does_not_match",
      "unable_to_get_user_info", "login_required", "consent_required", "interaction_required",
      "account_selection_required", "server_error", "temporarily_unavailable", "invalid_request",
      "unauthorized_client", "invalid_scope", "unsupported_response_type", "invalid_client", "provider_error",
      "internal_server_error"];
    for (const code of codes) {
      const said = await text(code);
      must(said !== fallback && said.length > 20, `${code}: ${show(said)}`);
    }
    const hostile = await text("<script>x</script>");
    must(hostile === fallback, `an unknown code is not echoed: ${show(hostile)}`);
  });

}
