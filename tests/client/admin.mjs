// The admin API with the official Better Auth client (`adminClient`) against a running
// Gatehouse. Run from a folder where `better-auth` is installed (.ci/run copies it next to the
// client smoke test, with checks.mjs), after making an admin with the CLI:
//   gatehouse users create --email ADMIN_EMAIL --name Admin --password ADMIN_PASSWORD --role admin
//   node admin.mjs http://127.0.0.1:PORT ADMIN_EMAIL ADMIN_PASSWORD
// Prints "ok - …" / "not ok - …" per check and ends with "N passed, N failed".
import { randomBytes } from "node:crypto";
import { createAuthClient } from "better-auth/client";
import { adminClient } from "better-auth/client/plugins";
import { browserFetch, check, must, run, show } from "./checks.mjs";

const [BASE_ARG, ADMIN_EMAIL, ADMIN_PASSWORD] = process.argv.slice(2);
const BASE = BASE_ARG.replace(/\/+$/, "");
const PASSWORD = "admin-client-password-1";
const plugin = adminClient();
const hex = () => randomBytes(4).toString("hex");

function browser() {
  return createAuthClient({
    baseURL: BASE,
    fetchOptions: { customFetchImpl: browserFetch(BASE) },
    plugins: [adminClient()],
  });
}

/** Every error the server answered (code → message), to hold against the plugin's list. */
const seen = new Map();
const coded = (error) => (error?.code && seen.set(error.code, error.message), error);

const state = {};

check("an admin signs in; createUser and listUsers (searching the name too) see the new user", async () => {
  state.admin = browser();
  const signed = await state.admin.signIn.email({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  must(!signed.error && signed.data.user.role === "admin", `admin sign-in ${show(signed)}`);
  state.name = `Zara ${hex()}`;
  state.email = `admin-client-${hex()}@example.com`;
  const made = await state.admin.admin.createUser({ email: state.email, password: PASSWORD, name: state.name, role: "user" });
  must(!made.error && made.data.user.email === state.email && made.data.user.role === "user", `create ${show(made)}`);
  state.id = made.data.user.id;
  const byName = await state.admin.admin.listUsers({ query: { searchValue: state.name.split(" ")[1], limit: 10 } });
  must(!byName.error && byName.data.total === 1 && byName.data.users[0].id === state.id, `by name ${show(byName)}`);
  const again = coded((await state.admin.admin.createUser({ email: state.email, password: PASSWORD, name: "x" })).error);
  must(again?.code === "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", `duplicate ${show(again)}`);
});

check("a plain user is refused every admin call with Better Auth's codes", async () => {
  state.user = browser();
  const signed = await state.user.signIn.email({ email: state.email, password: PASSWORD });
  must(!signed.error, `user sign-in ${show(signed)}`);
  const list = coded((await state.user.admin.listUsers({ query: {} })).error);
  must(list?.status === 403 && list.code === "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS", `list ${show(list)}`);
  const ban = coded((await state.user.admin.banUser({ userId: state.id })).error);
  must(ban?.status === 403 && ban.code === "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS", `ban ${show(ban)}`);
  const perm = await state.user.admin.hasPermission({ permissions: { user: ["ban"] } });
  must(!perm.error && perm.data.success === false, `hasPermission ${show(perm)}`);
});

check("banUser ends the user's sessions and refuses sign-in with BANNED_USER; unbanUser lets them back", async () => {
  const banned = await state.admin.admin.banUser({ userId: state.id, banReason: "testing" });
  must(!banned.error && banned.data.user.banned === true && banned.data.user.banReason === "testing", `ban ${show(banned)}`);
  must((await state.user.getSession()).data === null, "the user's session ended");
  const refused = coded((await browser().signIn.email({ email: state.email, password: PASSWORD })).error);
  must(refused?.status === 403 && refused.code === "BANNED_USER", `sign-in ${show(refused)}`);
  const self = coded((await state.admin.admin.banUser({ userId: (await state.admin.getSession()).data.user.id })).error);
  must(self?.code === "YOU_CANNOT_BAN_YOURSELF", `self ${show(self)}`);
  const unbanned = await state.admin.admin.unbanUser({ userId: state.id });
  must(!unbanned.error && unbanned.data.user.banned === false, `unban ${show(unbanned)}`);
  state.user = browser();
  must(!(await state.user.signIn.email({ email: state.email, password: PASSWORD })).error, "signs in again");
});

check("setRole, listUserSessions and revokeUserSessions", async () => {
  const role = await state.admin.admin.setRole({ userId: state.id, role: ["user"] });
  must(!role.error && role.data.user.role === "user", `setRole ${show(role)}`);
  const bad = coded((await state.admin.admin.setRole({ userId: state.id, role: "overlord" })).error);
  must(bad?.code === "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE", `bad role ${show(bad)}`);
  const sessions = await state.admin.admin.listUserSessions({ userId: state.id });
  must(!sessions.error && sessions.data.sessions.length >= 1, `sessions ${show(sessions)}`);
  const revoked = await state.admin.admin.revokeUserSessions({ userId: state.id });
  must(!revoked.error && revoked.data.success === true, `revoke ${show(revoked)}`);
  must((await state.user.getSession()).data === null, "the user's session ended");
});

check("impersonateUser shows the user with impersonatedBy; stopImpersonating gives the admin back", async () => {
  const adminId = (await state.admin.getSession()).data.user.id;
  const imp = await state.admin.admin.impersonateUser({ userId: state.id });
  must(!imp.error && imp.data.user.id === state.id, `impersonate ${show(imp)}`);
  const as = await state.admin.getSession();
  must(as.data?.user.id === state.id && as.data.session.impersonatedBy === adminId, `session ${show(as.data)}`);
  const stop = await state.admin.admin.stopImpersonating();
  must(!stop.error, `stop ${show(stop)}`);
  const back = await state.admin.getSession();
  must(back.data?.user.id === adminId && !back.data.session.impersonatedBy, `back ${show(back.data)}`);
});

check("setUserPassword, removeUser", async () => {
  const set = await state.admin.admin.setUserPassword({ userId: state.id, newPassword: "another-password-22" });
  must(!set.error && set.data.status === true, `set ${show(set)}`);
  must(!(await browser().signIn.email({ email: state.email, password: "another-password-22" })).error, "new password");
  const removed = await state.admin.admin.removeUser({ userId: state.id });
  must(!removed.error && removed.data.success === true, `remove ${show(removed)}`);
  const gone = await state.admin.admin.listUsers({ query: { searchValue: state.email } });
  must(!gone.error && gone.data.total === 0, `gone ${show(gone)}`);
});

check("every error code the server sent is in adminClient's $ERROR_CODES, with its message", async () => {
  must(seen.size >= 5, `codes seen ${show([...seen])}`);
  const missing = [...seen].filter(([code, message]) => plugin.$ERROR_CODES[code]?.message !== message);
  must(missing.length === 0, `not in $ERROR_CODES as sent: ${show(missing)}`);
});

run();
