// Server-side helpers: read the session by forwarding the browser's cookie to Gatehouse's
// get-session, the way a server component, a route handler or `proxy.ts` (Next.js 16's
// middleware) does it.
import { headers } from "next/headers";

export const GATEHOUSE_URL = (process.env.GATEHOUSE_URL ?? "http://127.0.0.1:3000").replace(/\/+$/, "");

export type Session = {
  session: { id: string; expiresAt: string; activeOrganizationId?: string | null };
  user: { id: string; email: string; name: string; emailVerified: boolean; image?: string | null };
  subscription?: { isSubscribed: boolean; productId?: string | null; status?: string | null } | null;
};

/** Whether a Cookie header carries a Gatehouse session cookie at all (else there is no need to ask). */
function hasSessionCookie(cookie: string): boolean {
  return /(?:^|;\s*)(?:__Secure-)?[^=;]*\.session_token=/.test(cookie);
}

/**
 * The session of the request whose headers are given, or null when there is none (or it ended).
 * `disableRefresh`: a server cannot pass a renewed cookie on to the browser, so it only reads;
 * the browser's own client (`useSession`) keeps the session and its cookie alive.
 * `X-Forwarded-For` is passed on, so Gatehouse (with this server in TRUSTED_PROXIES) counts the
 * browser's address, not this server's, against its rate limits.
 */
export async function sessionOf(incoming: Headers): Promise<Session | null> {
  const cookie = incoming.get("cookie");
  if (!cookie || !hasSessionCookie(cookie)) return null;
  const forwarded = incoming.get("x-forwarded-for");
  const res = await fetch(`${GATEHOUSE_URL}/api/auth/get-session?disableRefresh=true`, {
    headers: { cookie, ...(forwarded ? { "x-forwarded-for": forwarded } : {}) },
    cache: "no-store",
  });
  if (!res.ok) throw new Error(`Gatehouse answered get-session with ${res.status}`);
  return (await res.json()) as Session | null;
}

/** The session of the request being rendered (server components). */
export async function currentSession(): Promise<Session | null> {
  return sessionOf(await headers());
}
