// What the official-client scripts share (.ci/run copies it next to them): a cookie jar, a
// browser-like fetch, and a small runner that prints "ok - …" / "not ok - …" per check and ends
// with "N passed, N failed" (exit status 1 when any failed).

/** A cookie jar that reads Set-Cookie and sends Cookie. */
export function jar() {
  const cookies = new Map();
  return {
    header: () => [...cookies].map(([k, v]) => `${k}=${v}`).join("; "),
    take(res) {
      for (const line of res.headers.getSetCookie()) {
        const [pair, ...attrs] = line.split(";");
        const i = pair.indexOf("=");
        const name = pair.slice(0, i).trim();
        if (attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) cookies.delete(name);
        else cookies.set(name, pair.slice(i + 1));
      }
    },
  };
}

/** A fetch for the client: its own cookies, an Origin header, redirects not followed. */
export function browserFetch(base) {
  const cookies = jar();
  return async (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set("origin", base);
    if (cookies.header()) headers.set("cookie", cookies.header());
    const res = await fetch(input, { ...init, headers, redirect: "manual" });
    cookies.take(res);
    return res;
  };
}

const checks = [];
export const check = (name, fn) => checks.push([name, fn]);
export const must = (cond, msg) => { if (!cond) throw new Error(msg); };
export const show = (v) => JSON.stringify(v)?.slice(0, 300);

/** Runs the checks in order and exits. */
export async function run() {
  let failed = 0;
  for (const [name, fn] of checks) {
    try {
      await fn();
      console.log(`ok - ${name}`);
    } catch (e) {
      failed++;
      console.log(`not ok - ${name}: ${e.message}`);
    }
  }
  console.log(`${checks.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
