// What a backend service does with a Gatehouse JWT: verify it offline against /jwks (keys are
// fetched once and cached by jose), then trust its claims until it expires.
import { createRemoteJWKSet, jwtVerify } from "jose";
import { NextRequest, NextResponse } from "next/server";
import { GATEHOUSE_URL } from "@/lib/gatehouse";

const jwks = createRemoteJWKSet(new URL(`${GATEHOUSE_URL}/api/auth/jwks`));
// Gatehouse's JWT issuer and audience default to its BASE_URL: this app's public origin
// (set JWT_ISSUER / JWT_AUDIENCE when Gatehouse's JWT_ISSUER / JWT_AUDIENCE say otherwise).
const APP_URL = (process.env.APP_URL ?? "http://localhost:3001").replace(/\/+$/, "");
const ISSUER = process.env.JWT_ISSUER ?? APP_URL;
const AUDIENCE = process.env.JWT_AUDIENCE ?? APP_URL;
// The algorithm Gatehouse signs with (its JWT_ALGORITHM): nothing else is accepted.
const ALGORITHMS = [process.env.JWT_ALGORITHM ?? "EdDSA"];

export async function GET(request: NextRequest) {
  const token = request.headers.get("authorization")?.match(/^Bearer (.+)$/)?.[1];
  if (!token) return NextResponse.json({ error: "no token" }, { status: 401 });
  try {
    const { payload } = await jwtVerify(token, jwks, {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ALGORITHMS,
      requiredClaims: ["sub", "exp"],
    });
    return NextResponse.json({ ok: true, sub: payload.sub, email: payload.email });
  } catch (e) {
    // Why is for the log, not for the caller.
    console.warn("JWT refused:", (e as Error).message);
    return NextResponse.json({ error: "invalid token" }, { status: 401 });
  }
}
