// Writes a Better Auth database the way a Better Auth server does: Better Auth itself (npm
// `better-auth`, its PostgreSQL adapter through `pg`) creates the tables and makes a few users, an
// organization with members and an invitation, a banned user, a user with two-factor, a session
// and a passkey row. Prints what it made as JSON, for the import test to check against.
//
// Usage: DATABASE_URL=postgres://…?options=-c%20search_path%3D<schema> BETTER_AUTH_SECRET=… node seed.mjs
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { admin } from "better-auth/plugins/admin";
import { organization } from "better-auth/plugins/organization";
import { twoFactor } from "better-auth/plugins/two-factor";
import { username } from "better-auth/plugins/username";
import pg from "pg";

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
const options = {
  database: pool,
  secret: process.env.BETTER_AUTH_SECRET,
  baseURL: "http://127.0.0.1:3999",
  emailAndPassword: { enabled: true },
  plugins: [organization(), twoFactor(), username(), admin()],
  logger: { disabled: true },
};
const auth = betterAuth(options);
const { runMigrations } = await getMigrations(options);
await runMigrations();

const password = "better-auth-password-1";

function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of text.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes).toString("utf8");
}
async function signUp(email, name, extra = {}) {
  const { headers, response } = await auth.api.signUpEmail({
    body: { email, name, password, ...extra },
    returnHeaders: true,
  });
  const cookie = headers.get("set-cookie").split(";")[0];
  return { id: response.user.id, email, token: response.token, cookie };
}

const owner = await signUp("owner@example.com", "Olive Owner", { username: "olive" });
const member = await signUp("member@example.com", "Mark Member");
const banned = await signUp("banned@example.com", "Bea Banned");
const secured = await signUp("secured@example.com", "Sam Secured");

const org = await auth.api.createOrganization({
  body: { name: "Acme", slug: "acme" },
  headers: new Headers({ cookie: owner.cookie }),
});
await auth.api.addMember({ body: { userId: member.id, role: "admin", organizationId: org.id } });
await auth.api.createInvitation({
  body: { email: "invitee@example.com", role: "member", organizationId: org.id },
  headers: new Headers({ cookie: owner.cookie }),
});

// The admin plugin bans through an admin's session: make the owner an admin first.
await pool.query(`UPDATE "user" SET "role" = 'admin' WHERE "id" = $1`, [owner.id]);
await auth.api.banUser({
  body: { userId: banned.id, banReason: "spam" },
  headers: new Headers({ cookie: owner.cookie }),
});

// Two-factor: enable, then prove the TOTP secret with a code, as the client does.
const securedHeaders = new Headers({ cookie: secured.cookie });
const enabled = await auth.api.enableTwoFactor({ body: { password }, headers: securedHeaders });
// The URI carries the secret in base32; Better Auth keys its HMAC with the decoded text.
const totpSecret = base32Decode(new URL(enabled.totpURI).searchParams.get("secret"));
const { code } = await auth.api.generateTOTP({ body: { secret: totpSecret } });
await auth.api.verifyTOTP({ body: { code }, headers: securedHeaders });

// Passkeys are not carried over: a row (as the passkey plugin writes one) to be counted.
await pool.query(`CREATE TABLE IF NOT EXISTS "passkey" ("id" text PRIMARY KEY, "userId" text NOT NULL,
  "publicKey" text NOT NULL, "credentialID" text NOT NULL, "counter" integer NOT NULL,
  "deviceType" text NOT NULL, "backedUp" boolean NOT NULL, "createdAt" timestamptz)`);
await pool.query(`INSERT INTO "passkey" VALUES ('pk-1', $1, 'key', 'cred', 0, 'singleDevice', false, now())`, [
  owner.id,
]);

console.log(
  JSON.stringify({
    password,
    users: { owner, member, banned, secured },
    organizationId: org.id,
    totpSecret,
    backupCodes: enabled.backupCodes,
  }),
);
await pool.end();
