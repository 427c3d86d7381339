"use client";
import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { Suspense, useState } from "react";
import { authClient } from "@/lib/auth-client";

function ResetForm() {
  const params = useSearchParams();
  const token = params.get("token");
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(
    params.get("error") ? "This link is invalid, used or expired. Ask for a new one." : null,
  );

  async function submit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const { error } = await authClient.resetPassword({ newPassword: String(form.get("password")), token: token ?? "" });
    if (error) return setError(error.message ?? "The password was not changed");
    setDone(true);
  }

  if (done) {
    return (
      <section>
        <h1>Password changed</h1>
        <p role="status">You were signed out everywhere. <Link href="/sign-in">Sign in</Link> with the new password.</p>
      </section>
    );
  }
  return (
    <form className="card" onSubmit={submit}>
      <h1>Choose a new password</h1>
      <label htmlFor="password">New password</label>
      <input id="password" name="password" type="password" autoComplete="new-password" minLength={8} required />
      {error && <p role="alert" className="error">{error}</p>}
      <button type="submit" disabled={!token}>Set new password</button>
      <p><Link href="/forgot-password">Ask for a new link</Link></p>
    </form>
  );
}

export default function ResetPassword() {
  return (
    <Suspense>
      <ResetForm />
    </Suspense>
  );
}
