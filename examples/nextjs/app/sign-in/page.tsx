"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import { authClient } from "@/lib/auth-client";

export default function SignIn() {
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [providers, setProviders] = useState<string[]>([]);

  // The social buttons: one per provider Gatehouse has configured.
  useEffect(() => {
    fetch("/api/auth/social-providers")
      .then((r) => (r.ok ? r.json() : []))
      .then(setProviders)
      .catch(() => setProviders([]));
  }, []);

  async function submit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setBusy(true);
    const { error } = await authClient.signIn.email({
      email: String(form.get("email")),
      password: String(form.get("password")),
    });
    setBusy(false);
    if (error) return setError(error.message ?? "Sign-in failed");
    router.push("/dashboard");
    router.refresh();
  }

  return (
    <>
      <form className="card" onSubmit={submit}>
        <h1>Sign in</h1>
        <label htmlFor="email">Email</label>
        <input id="email" name="email" type="email" autoComplete="email" required />
        <label htmlFor="password">Password</label>
        <input id="password" name="password" type="password" autoComplete="current-password" required />
        {error && <p role="alert" className="error">{error}</p>}
        <button type="submit" disabled={busy}>Sign in</button>
        <p className="row">
          <Link href="/forgot-password">Forgot your password?</Link> · <Link href="/sign-up">Create an account</Link>
        </p>
      </form>
      {providers.length > 0 && (
        <section aria-label="Other ways to sign in">
          <div className="row">
            {providers.map((id) => (
              <button key={id} type="button" className="secondary"
                onClick={() => authClient.signIn.social({ provider: id, callbackURL: "/dashboard" })}>
                Continue with {id}
              </button>
            ))}
          </div>
        </section>
      )}
    </>
  );
}
