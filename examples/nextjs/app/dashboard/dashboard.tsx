"use client";
import { decodeJwt } from "jose";
import { useRouter } from "next/navigation";
import { useCallback, useEffect, useState } from "react";
import { authClient } from "@/lib/auth-client";

type Props = { email: string; emailVerified: boolean; sessionId: string; activeOrganizationId: string | null };
type Org = { id: string; name: string; slug: string };
type SessionRow = { id: string; userAgent?: string | null; ipAddress?: string | null };
type Outcome = { error?: { message?: string; status?: number } | null };

export default function Dashboard({ email, emailVerified, sessionId, activeOrganizationId }: Props) {
  const router = useRouter();
  // The browser's own get-session: it keeps the session (and its cookie) alive while the page
  // is used; the server only reads it.
  authClient.useSession();
  const [orgs, setOrgs] = useState<Org[]>([]);
  const [sessions, setSessions] = useState<SessionRow[] | null>(null);
  const [jwt, setJwt] = useState<{ claims: unknown; accepted: unknown } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  /** True when the call worked; otherwise says why on the page. */
  const ok = (what: string, out: Outcome) => {
    if (!out.error) return true;
    setNotice(null);
    setProblem(`${what}: ${out.error.message ?? `error ${out.error.status}`}`);
    return false;
  };

  const load = useCallback(async () => {
    const [o, s] = await Promise.all([authClient.organization.list(), authClient.listSessions()]);
    if (!o.error) setOrgs((o.data as Org[] | null) ?? []);
    // list-sessions needs a fresh session (signed in within SESSION_FRESH_AGE).
    if (s.error) setSessions(null);
    else setSessions((s.data as SessionRow[] | null) ?? []);
  }, []);
  useEffect(() => {
    load();
  }, [load]);

  async function switchTo(organizationId: string) {
    if (ok("Switching organization", await authClient.organization.setActive({ organizationId: organizationId || null })))
      router.refresh();
  }

  async function createOrg(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const formEl = e.currentTarget;
    const name = String(new FormData(formEl).get("org-name"));
    const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
    if (!ok("Creating the organization", await authClient.organization.create({ name, slug }))) return;
    formEl.reset();
    await load();
    router.refresh();
  }

  async function getJwt() {
    const out = await authClient.token();
    if (!ok("Getting a JWT", out) || !out.data) return;
    // The app's own API verifies it against Gatehouse's /jwks, as any service would.
    const res = await fetch("/api/protected", { headers: { authorization: `Bearer ${out.data.token}` } });
    setJwt({ claims: decodeJwt(out.data.token), accepted: await res.json() });
  }

  async function signOutOthers() {
    if (!ok("Signing out other devices", await authClient.revokeOtherSessions())) return;
    await load();
    setProblem(null);
    setNotice("Signed out of every other device.");
  }

  async function sendVerification() {
    if (!ok("Sending the link", await authClient.sendVerificationEmail({ email, callbackURL: "/dashboard" }))) return;
    setProblem(null);
    setNotice("A verification link is on its way.");
  }

  async function signOut() {
    await authClient.signOut();
    router.push("/sign-in");
    router.refresh();
  }

  return (
    <>
      {notice && <p role="status">{notice}</p>}
      {problem && <p role="alert" className="error">{problem}</p>}
      {!emailVerified && (
        <section>
          <h2>Verify your email</h2>
          <button type="button" onClick={sendVerification}>Send a verification link</button>
        </section>
      )}
      <section>
        <h2>Organization</h2>
        <label htmlFor="org">Active organization</label>
        <select id="org" value={activeOrganizationId ?? ""} onChange={(e) => switchTo(e.target.value)}>
          <option value="">Personal</option>
          {orgs.map((o) => (
            <option key={o.id} value={o.id}>{o.name}</option>
          ))}
        </select>
        <form onSubmit={createOrg}>
          <label htmlFor="org-name">New organization</label>
          <input id="org-name" name="org-name" required />
          <button type="submit">Create</button>
        </form>
      </section>
      <section>
        <h2>Token for services</h2>
        <button type="button" onClick={getJwt}>Get a JWT</button>
        {jwt && (
          <>
            <h3>Claims</h3>
            <pre data-testid="jwt-claims">{JSON.stringify(jwt.claims, null, 2)}</pre>
            <h3>The app&apos;s API says</h3>
            <pre data-testid="jwt-accepted">{JSON.stringify(jwt.accepted, null, 2)}</pre>
          </>
        )}
      </section>
      <section>
        <h2>Sessions</h2>
        {sessions === null ? (
          <p className="muted">Sign in again to see your sessions (the list needs a recent sign-in).</p>
        ) : (
          <ul className="sessions" data-testid="sessions">
            {sessions.map((s) => (
              <li key={s.id}>
                {s.userAgent ?? "unknown device"} · {s.ipAddress ?? "unknown address"}
                {s.id === sessionId && " (this device)"}
              </li>
            ))}
          </ul>
        )}
        <div className="row">
          <button type="button" className="secondary" onClick={signOutOthers}>Sign out other devices</button>
          <button type="button" onClick={signOut}>Sign out</button>
        </div>
      </section>
    </>
  );
}
