"use client";
import { useRouter } from "next/navigation";
import { useCallback, useEffect, useState } from "react";
import { authClient } from "@/lib/auth-client";

type Props = { email: string; emailVerified: boolean; sessionId: string; activeOrganizationId: string | null };
type Org = { id: string; name: string; slug: string };
type SessionRow = { id: string; userAgent?: string | null; ipAddress?: string | null; createdAt: string | Date };

function claimsOf(jwt: string): unknown {
  const payload = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(payload));
}

export default function Dashboard({ email, emailVerified, sessionId, activeOrganizationId }: Props) {
  const router = useRouter();
  const [orgs, setOrgs] = useState<Org[]>([]);
  const [sessions, setSessions] = useState<SessionRow[]>([]);
  const [jwt, setJwt] = useState<{ claims: unknown; accepted: unknown } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const load = useCallback(async () => {
    const [o, s] = await Promise.all([authClient.organization.list(), authClient.listSessions()]);
    setOrgs((o.data as Org[] | null) ?? []);
    setSessions((s.data as SessionRow[] | null) ?? []);
  }, []);
  useEffect(() => {
    load();
  }, [load]);

  async function switchTo(organizationId: string) {
    await authClient.organization.setActive({ organizationId: organizationId || null });
    router.refresh();
  }

  async function createOrg(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const formEl = e.currentTarget;
    const name = String(new FormData(formEl).get("org-name"));
    const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
    const { error } = await authClient.organization.create({ name, slug });
    if (error) return setNotice(error.message ?? "Could not create the organization");
    formEl.reset();
    await load();
    router.refresh();
  }

  async function getJwt() {
    const { data, error } = await authClient.token();
    if (error || !data) return setNotice(error?.message ?? "No token");
    // The app's own API verifies it against Gatehouse's /jwks, as any service would.
    const res = await fetch("/api/protected", { headers: { authorization: `Bearer ${data.token}` } });
    setJwt({ claims: claimsOf(data.token), accepted: await res.json() });
  }

  async function signOutOthers() {
    await authClient.revokeOtherSessions();
    await load();
    setNotice("Signed out of every other device.");
  }

  async function sendVerification() {
    await authClient.sendVerificationEmail({ email, callbackURL: "/dashboard" });
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
            <h3>The app's API says</h3>
            <pre data-testid="jwt-accepted">{JSON.stringify(jwt.accepted, null, 2)}</pre>
          </>
        )}
      </section>
      <section>
        <h2>Sessions</h2>
        <ul className="sessions" data-testid="sessions">
          {sessions.map((s) => (
            <li key={s.id}>
              {s.userAgent ?? "unknown device"} · {s.ipAddress ?? "unknown address"}
              {s.id === sessionId && " (this device)"}
            </li>
          ))}
        </ul>
        <div className="row">
          <button type="button" className="secondary" onClick={signOutOthers}>Sign out other devices</button>
          <button type="button" onClick={signOut}>Sign out</button>
        </div>
      </section>
    </>
  );
}
