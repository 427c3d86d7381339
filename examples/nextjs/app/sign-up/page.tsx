"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { authClient } from "@/lib/auth-client";

export default function SignUp() {
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setBusy(true);
    const { error } = await authClient.signUp.email({
      name: String(form.get("name")),
      email: String(form.get("email")),
      password: String(form.get("password")),
      callbackURL: "/dashboard",
    });
    setBusy(false);
    if (error) return setError(error.message ?? "Sign-up failed");
    router.push("/dashboard");
    router.refresh();
  }

  return (
    <form className="card" onSubmit={submit}>
      <h1>Create an account</h1>
      <label htmlFor="name">Name</label>
      <input id="name" name="name" autoComplete="name" required />
      <label htmlFor="email">Email</label>
      <input id="email" name="email" type="email" autoComplete="email" required />
      <label htmlFor="password">Password</label>
      <input id="password" name="password" type="password" autoComplete="new-password" minLength={8} required />
      {error && <p role="alert" className="error">{error}</p>}
      <button type="submit" disabled={busy}>Create account</button>
      <p>
        Already have one? <Link href="/sign-in">Sign in</Link>
      </p>
    </form>
  );
}
