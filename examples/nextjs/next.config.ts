import type { NextConfig } from "next";

// Where Gatehouse listens. The browser never sees this address: it calls /api/auth/* on the app's
// own origin and Next.js forwards it, so the session cookie is first-party and HTTP-only.
// Read when the app is built (`next build`) and when it starts.
const gatehouse = (process.env.GATEHOUSE_URL ?? "http://127.0.0.1:3000").replace(/\/+$/, "");

const config: NextConfig = {
  async rewrites() {
    return [{ source: "/api/auth/:path*", destination: `${gatehouse}/api/auth/:path*` }];
  },
};

export default config;
