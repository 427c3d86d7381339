// Two-factor authentication with the official Better Auth client (`twoFactorClient`) against a
// running Gatehouse. Run from a folder where `better-auth` is installed (.ci/run copies it next
// to the client smoke test, with checks.mjs):
//   node two-factor.mjs http://127.0.0.1:PORT
// TOTP codes are computed here (RFC 6238, node:crypto) from the secret in the totpURI.
// Prints "ok - …" / "not ok - …" per check and ends with "N passed, N failed".
import { createHmac, randomBytes } from "node:crypto";
import { createAuthClient } from "better-auth/client";
import { twoFactorClient } from "better-auth/client/plugins";
import { browserFetch, check, must, run, show } from "./checks.mjs";

const BASE = process.argv[2].replace(/\/+$/, "");
const PASSWORD = "two-factor-password-1";

/** A browser-like client: its own cookies, an Origin header; `redirects` records the client's
 * onTwoFactorRedirect calls. */
function browser() {
  const redirects = [];
  const client = createAuthClient({
    baseURL: BASE,
    fetchOptions: { customFetchImpl: browserFetch(BASE) },
    plugins: [twoFactorClient({ onTwoFactorRedirect: (ctx) => redirects.push(ctx) })],
  });
  return { client, redirects };
}

/** The raw key in an otpauth:// URI (base32, RFC 4648). */
function secretOf(uri) {
  const b32 = new URL(uri).searchParams.get("secret");
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of b32.replace(/=+$/, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** RFC 6238: HMAC-SHA-1, 30 s, 6 digits. */
function totp(key, atMs = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atMs / 30000)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const o = mac[mac.length - 1] & 0xf;
  const n = (mac.readUInt32BE(o) & 0x7fffffff) % 1000000;
  return String(n).padStart(6, "0");
}

const state = {};

check("enable and a first verifyTotp turn two-factor on", async () => {
  const b = browser();
  state.email = `2fa-${randomBytes(6).toString("hex")}@example.com`;
  const up = await b.client.signUp.email({ email: state.email, password: PASSWORD, name: "Two Factor" });
  must(!up.error && up.data.user.twoFactorEnabled === false, `sign-up ${show(up)}`);
  const { data, error } = await b.client.twoFactor.enable({ password: PASSWORD });
  must(!error && data.totpURI?.startsWith("otpauth://totp/"), `enable ${show(error ?? data)}`);
  must(data.backupCodes.length === 10 && data.totpQrCode.startsWith("data:image/svg+xml;base64,"), `enable ${show(data)}`);
  state.key = secretOf(data.totpURI);
  state.backupCodes = data.backupCodes;
  state.enrolledWith = totp(state.key);
  const done = await b.client.twoFactor.verifyTotp({ code: state.enrolledWith });
  must(!done.error && done.data.user.twoFactorEnabled === true, `verifyTotp ${show(done.error ?? done.data)}`);
  const wrong = await b.client.twoFactor.enable({ password: "not-the-password" });
  must(wrong.error?.code === "INVALID_PASSWORD", `wrong password ${show(wrong.error)}`);
});

check("signIn.email asks for the second factor; a used TOTP code is refused; a backup code signs in", async () => {
  const b = browser();
  const res = await b.client.signIn.email({ email: state.email, password: PASSWORD });
  must(!res.error && res.data.twoFactorRedirect === true, `sign-in ${show(res)}`);
  must(show(b.redirects) === show([{ twoFactorMethods: ["totp"] }]), `onTwoFactorRedirect ${show(b.redirects)}`);
  must((await b.client.getSession()).data === null, "no session before the second factor");
  const replay = await b.client.twoFactor.verifyTotp({ code: state.enrolledWith });
  must(replay.error?.status === 401 && replay.error.code === "INVALID_CODE", `replay ${show(replay.error)}`);
  const done = await b.client.twoFactor.verifyBackupCode({ code: state.backupCodes[0], trustDevice: true });
  must(!done.error && done.data.user.email === state.email, `backup code ${show(done.error ?? done.data)}`);
  const session = await b.client.getSession();
  must(session.data?.user?.email === state.email, `session ${show(session.data)}`);
  state.trusted = b;
});

check("a trusted browser signs in without the second factor", async () => {
  const b = state.trusted;
  await b.client.signOut();
  const res = await b.client.signIn.email({ email: state.email, password: PASSWORD });
  must(!res.error && typeof res.data.token === "string", `sign-in ${show(res)}`);
});

check("a used backup code is refused; generateBackupCodes replaces them", async () => {
  const b = browser();
  await b.client.signIn.email({ email: state.email, password: PASSWORD });
  const used = await b.client.twoFactor.verifyBackupCode({ code: state.backupCodes[0] });
  must(used.error?.code === "INVALID_BACKUP_CODE", `used ${show(used.error)}`);
  const fresh = await state.trusted.client.twoFactor.generateBackupCodes({ password: PASSWORD });
  must(!fresh.error && fresh.data.backupCodes.length === 10, `generate ${show(fresh)}`);
});

check("disable turns it off: the next sign-in gets a session", async () => {
  const off = await state.trusted.client.twoFactor.disable({ password: PASSWORD });
  must(!off.error && off.data.status === true, `disable ${show(off)}`);
  const b = browser();
  const res = await b.client.signIn.email({ email: state.email, password: PASSWORD });
  must(!res.error && res.data.user.twoFactorEnabled === false && b.redirects.length === 0, `sign-in ${show(res)}`);
});

await run();
