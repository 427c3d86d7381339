// What a backend service does with a Gatehouse JWT: verify it offline against /jwks (keys are
// fetched once and cached by jose), then trust its claims until it expires.
import { createRemoteJWKSet, jwtVerify } from "jose";
import { NextRequest, NextResponse } from "next/server";
import { GATEHOUSE_URL } from "@/lib/gatehouse";

const jwks = createRemoteJWKSet(new URL(`${GATEHOUSE_URL}/api/auth/jwks`));
// Gatehouse's JWT issuer and audience default to its BASE_URL: this app's public origin.
const ISSUER = (process.env.APP_URL ?? "http://localhost:3001").replace(/\/+$/, "");

export async function GET(request: NextRequest) {
  const token = request.headers.get("authorization")?.match(/^Bearer (.+)$/)?.[1];
  if (!token) return NextResponse.json({ error: "no token" }, { status: 401 });
  try {
    const { payload } = await jwtVerify(token, jwks, { issuer: ISSUER, audience: ISSUER });
    return NextResponse.json({ ok: true, sub: payload.sub, email: payload.email });
  } catch (e) {
    return NextResponse.json({ error: "invalid token", reason: (e as Error).message }, { status: 401 });
  }
}
