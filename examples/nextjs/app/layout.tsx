import type { Metadata } from "next";
import Link from "next/link";
import "./globals.css";

export const metadata: Metadata = { title: "Gatehouse + Next.js" };

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body>
        <header>
          <Link href="/">Gatehouse example</Link>
          <Link href="/dashboard">Dashboard</Link>
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
