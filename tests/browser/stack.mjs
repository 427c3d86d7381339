// The processes the browser journeys run against, and their development outbox. As deployed:
// browser → nginx (the one domain; appends X-Forwarded-For) → `next start` → its rewrite of
// /api/auth/* → Gatehouse, whose BASE_URL is the app's origin and whose TRUSTED_PROXIES is the
// Next.js server's address. The browser reaches nginx over IPv6 (::1) and everything behind it
// talks IPv4, so "the browser's address" and "the proxy's" differ. A second Gatehouse on
// auth.example.com serves an app on app.example.com (CORS, COOKIE_DOMAIN).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { must } from "../client/checks.mjs";

const TMP = mkdtempSync(join(tmpdir(), "gh-nextjs-"));
console.log(`# server logs: ${TMP}`);
let BIN;

const children = [];
process.on("exit", () => children.forEach((c) => c.kill()));
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(1));

/** A port free on `host` (nginx listens on ::1, everything else on 127.0.0.1). */
export const freePort = (host = "127.0.0.1") =>
  new Promise((ok, fail) => {
    const s = net.createServer().on("error", fail);
    s.listen(0, host, () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });

export function start(name, cmd, args, opts) {
  const log = join(TMP, `${name}.log`);
  const child = spawn(cmd, args, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
  const out = createWriteStream(log);
  const chunks = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream.on("data", (d) => chunks.push(d));
    stream.pipe(out);
  }
  child.logs = () => Buffer.concat(chunks).toString();
  children.push(child);
  return child;
}

export async function waitFor(url, child) {
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null) throw new Error(`${url}: exited\n${child.logs()}`);
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url}: no answer\n${child.logs()}`);
}

export const base = { PATH: process.env.PATH, HOME: process.env.HOME, RUST_LOG: "warn" };
export function gatehouse(name, port, env) {
  const dir = join(TMP, name);
  mkdirSync(dir);
  const all = { ...base, BIND: `127.0.0.1:${port}`, DATABASE_URL: `sqlite://${dir}/db.sqlite`, ...env };
  const child = start(name, BIN, ["serve"], { cwd: dir, env: all });
  child.outbox = join(dir, "outbox.jsonl");
  child.cli = (...args) => {
    const out = spawnSync(BIN, args, { cwd: dir, env: all, encoding: "utf8" });
    must(out.status === 0, `gatehouse ${args.join(" ")}: ${out.stderr}`);
    return out.stdout;
  };
  return child;
}

/** The mails of this kind to this address in a Gatehouse's development outbox, oldest first. */
export function mails(server, kind, to) {
  const lines = existsSync(server.outbox) ? readFileSync(server.outbox, "utf8").trim().split("\n") : [];
  return lines.filter(Boolean).map((l) => JSON.parse(l)).filter((m) => m.kind === kind && m.to === to);
}

/** The link of the mail `action` makes Gatehouse send (mail goes out after the answer). */
export async function mailedBy(server, kind, to, action) {
  const before = mails(server, kind, to).length;
  await action();
  for (let i = 0; i < 100; i++) {
    const all = mails(server, kind, to);
    if (all.length > before) return all[all.length - 1].url;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no new ${kind} mail to ${to} in the outbox`);
}

/** Builds the example against a Gatehouse about to start, then starts Gatehouse, `next start`,
 *  nginx in front of it, and the subdomain Gatehouse; resolves once all of them answer. */
export async function startStack(bin, APP_DIR) {
  BIN = bin;
  const [GH, NEXT, AUTH2, APP2] = await Promise.all([1, 2, 3, 4].map(() => freePort()));
  const [FRONT, PATHS] = await Promise.all([freePort("::1"), freePort("::1")]);
  const APP = `http://localhost:${FRONT}`;
  const GATEHOUSE_URL = `http://127.0.0.1:${GH}`;

  // The example, built once, pointing at the Gatehouse below (rewrites are fixed at build time).
  const built = spawnSync("npx", ["--no-install", "next", "build"], {
    cwd: APP_DIR,
    env: { ...process.env, GATEHOUSE_URL, NEXT_TELEMETRY_DISABLED: "1" },
    encoding: "utf8",
  });
  if (built.status !== 0) {
    console.log(built.stdout, built.stderr);
    process.exit(1);
  }

  const main = gatehouse("same-origin", GH, {
    BASE_URL: APP,
    TRUSTED_PROXIES: "127.0.0.1",
    // The path-rule front door is another origin of the same app.
    TRUSTED_ORIGINS: `http://localhost:${PATHS}`,
    RATE_LIMIT_MAX_ATTEMPTS: "1000",
    // One social provider, so the sign-in page has a button (the provider's page is never reached:
    // the browser is stopped at it; the real sign-in flow is tested against oidc-provider).
    GITHUB_CLIENT_ID: "example-client",
    GITHUB_CLIENT_SECRET: "example-secret",
    GITHUB_AUTHORIZATION_URL: "https://github.example.com/login/oauth/authorize",
  });
  const next = start("next", join(APP_DIR, "node_modules/.bin/next"), ["start", "-H", "127.0.0.1", "-p", `${NEXT}`], {
    cwd: APP_DIR,
    env: { ...base, GATEHOUSE_URL, APP_URL: APP, NEXT_TELEMETRY_DISABLED: "1" },
  });
  // The one domain: nginx in front, the way the example's README deploys it (the rewrite way),
  // and on a second port the README's other way, a path rule straight to Gatehouse.
  writeFileSync(
    join(TMP, "nginx.conf"),
    `daemon off; pid ${TMP}/nginx.pid; error_log stderr warn; worker_processes 1;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${TMP}/nginx-body; proxy_temp_path ${TMP}/nginx-proxy;
  fastcgi_temp_path ${TMP}/nginx-fcgi; uwsgi_temp_path ${TMP}/nginx-uwsgi; scgi_temp_path ${TMP}/nginx-scgi;
  proxy_set_header Host $http_host;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  server {
    listen [::1]:${FRONT};
    location / { proxy_pass http://127.0.0.1:${NEXT}; }
  }
  server {
    listen [::1]:${PATHS};
    location /api/auth/ { proxy_pass http://127.0.0.1:${GH}; }
    location / { proxy_pass http://127.0.0.1:${NEXT}; }
  }
}
`,
  );
  const nginx = start("nginx", process.env.NGINX || "/usr/sbin/nginx", ["-c", join(TMP, "nginx.conf"), "-p", TMP], {});

  // The cross-origin deployment: Gatehouse on auth.example.com, the app on app.example.com
  // (Chromium is told both are loopback).
  const AUTH_ORIGIN = `http://auth.example.com:${AUTH2}`;
  const APP_ORIGIN = `http://app.example.com:${APP2}`;
  const cross = gatehouse("cross-origin", AUTH2, {
    BASE_URL: AUTH_ORIGIN,
    TRUSTED_ORIGINS: APP_ORIGIN,
    COOKIE_DOMAIN: "example.com",
    MAIL_TRANSPORT: "outbox",
    BETTER_AUTH_SECRET: randomBytes(32).toString("hex"),
  });

  await Promise.all([
    waitFor(`${GATEHOUSE_URL}/health`, main),
    waitFor(`http://127.0.0.1:${NEXT}/sign-in`, next),
    waitFor(`http://127.0.0.1:${AUTH2}/health`, cross),
  ]);
  await waitFor(`http://[::1]:${FRONT}/sign-in`, nginx);
  const PATH_RULE = `http://localhost:${PATHS}`;
  await waitFor(`http://[::1]:${PATHS}/api/auth/ok`, nginx);
  return { APP, PATH_RULE, GATEHOUSE_URL, NEXT, main, cross, AUTH_ORIGIN, APP_ORIGIN, AUTH2, APP2 };
}
