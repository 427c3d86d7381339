// A route handler that reads the session on the server: the request's cookie, forwarded to
// Gatehouse's get-session.
import { NextRequest, NextResponse } from "next/server";
import { sessionOf } from "@/lib/gatehouse";

export const dynamic = "force-dynamic";

export async function GET(request: NextRequest) {
  const session = await sessionOf(request.headers);
  if (!session) return NextResponse.json({ error: "not signed in" }, { status: 401 });
  return NextResponse.json({ user: session.user, sessionId: session.session.id });
}
