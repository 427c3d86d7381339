"use client";
// Better Auth's own client, pointed at Gatehouse. No baseURL: it calls /api/auth on this origin,
// which next.config.ts forwards to Gatehouse.
import { createAuthClient } from "better-auth/react";
import { jwtClient, organizationClient } from "better-auth/client/plugins";

export const authClient = createAuthClient({
  plugins: [organizationClient(), jwtClient()],
});
