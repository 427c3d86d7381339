"use client";
import { useState } from "react";
import { authClient } from "@/lib/auth-client";

export default function ForgotPassword() {
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    // The mailed link opens Gatehouse, which checks the token and sends the browser on to
    // /reset-password?token=… here.
    const { error } = await authClient.requestPasswordReset({
      email: String(form.get("email")),
      redirectTo: "/reset-password",
    });
    if (error) return setError(error.message ?? "Could not send the link");
    setSent(true);
  }

  if (sent) {
    return (
      <section>
        <h1>Check your inbox</h1>
        <p role="status">If an account uses that address, a link to reset its password is on its way.</p>
      </section>
    );
  }
  return (
    <form className="card" onSubmit={submit}>
      <h1>Forgot your password?</h1>
      <label htmlFor="email">Email</label>
      <input id="email" name="email" type="email" autoComplete="email" required />
      {error && <p role="alert" className="error">{error}</p>}
      <button type="submit">Send a reset link</button>
    </form>
  );
}
