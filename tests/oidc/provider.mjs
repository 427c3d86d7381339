// A real OpenID provider on loopback for Gatehouse's tests: `node provider.mjs PORT`, clients
// from OIDC_CLIENTS (JSON: [{client_id, client_secret, redirect_uris}]). Its development login
// pages take any password; the login name is the subject and the email, and decides the claims:
// `unverified…` has email_verified false, `noemail…` has no email; like Microsoft's, every
// account has an `oid`, and `work…` accounts send no email_verified (`work-edov…` send xms_edov).
import Provider from "oidc-provider";

const port = Number(process.argv[2]);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.OIDC_CLIENTS || "[]");

const provider = new Provider(issuer, {
  clients,
  conformIdTokenClaims: false,
  claims: { openid: ["sub", "oid"], email: ["email", "email_verified", "xms_edov"], profile: ["name", "picture"] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        const claims = { sub, oid: `oid-${sub}`, name: `User ${sub}` };
        if (!sub.startsWith("noemail")) {
          claims.email = sub;
          if (sub.startsWith("work-edov")) claims.xms_edov = true;
          else if (!sub.startsWith("work")) claims.email_verified = !sub.startsWith("unverified");
        }
        return claims;
      },
    };
  },
});
provider.listen(port, "127.0.0.1", () => console.log(`ready ${issuer}`));
