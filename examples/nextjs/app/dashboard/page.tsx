import { redirect } from "next/navigation";
import { currentSession } from "@/lib/gatehouse";
import Dashboard from "./dashboard";

export const dynamic = "force-dynamic";

// A server component: the session is read on the server (the browser's cookie forwarded to
// Gatehouse), so a signed-out visitor never sees this page, not even for a moment.
export default async function DashboardPage() {
  const session = await currentSession();
  if (!session) redirect("/sign-in");
  const { user, subscription } = session;
  return (
    <>
      <section>
        <h1>Dashboard</h1>
        <p>
          Signed in as <strong data-testid="user-email">{user.email}</strong> ({user.name})
        </p>
        <p data-testid="email-verified">Email {user.emailVerified ? "verified" : "not verified"}</p>
        <p data-testid="subscription">
          Subscription:{" "}
          {subscription?.isSubscribed ? `${subscription.productId} (${subscription.status})` : "none"}
        </p>
      </section>
      <Dashboard
        email={user.email}
        emailVerified={user.emailVerified}
        sessionId={session.session.id}
        activeOrganizationId={session.session.activeOrganizationId ?? null}
      />
    </>
  );
}
