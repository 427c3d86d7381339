import Link from "next/link";
import { redirect } from "next/navigation";
import { currentSession } from "@/lib/gatehouse";

export const dynamic = "force-dynamic";

export default async function Home() {
  if (await currentSession()) redirect("/dashboard");
  return (
    <section>
      <h1>Welcome</h1>
      <p>This app signs you in with Gatehouse, on this same origin.</p>
      <p className="row">
        <Link href="/sign-in">Sign in</Link> · <Link href="/sign-up">Create an account</Link>
      </p>
    </section>
  );
}
