// Server-side helpers: read the session by forwarding the browser's cookie to Gatehouse's
// get-session, the way a server component, a route handler or middleware does it.
import { headers } from "next/headers";

export const GATEHOUSE_URL = (process.env.GATEHOUSE_URL ?? "http://127.0.0.1:3000").replace(/\/+$/, "");

export type Session = {
  session: { id: string; expiresAt: string; activeOrganizationId?: string | null };
  user: { id: string; email: string; name: string; emailVerified: boolean; image?: string | null };
  subscription?: { isSubscribed: boolean; productId?: string | null; status?: string | null } | null;
};

/** The session of the cookie header given, or null when there is none (or it ended). */
export async function sessionOf(cookie: string | null): Promise<Session | null> {
  if (!cookie) return null;
  const res = await fetch(`${GATEHOUSE_URL}/api/auth/get-session`, {
    headers: { cookie },
    cache: "no-store",
  });
  if (!res.ok) throw new Error(`get-session answered ${res.status}`);
  return (await res.json()) as Session | null;
}

/** The session of the request being rendered (server components). */
export async function currentSession(): Promise<Session | null> {
  return sessionOf((await headers()).get("cookie"));
}
