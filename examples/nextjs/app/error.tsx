"use client";
// Shown when a page cannot be rendered, e.g. Gatehouse is unreachable or busy (it answers 503
// with Retry-After, or 429 past a rate limit).
export default function ErrorPage({ reset }: { error: Error; reset: () => void }) {
  return (
    <section>
      <h1>Something went wrong</h1>
      <p>The sign-in service did not answer. Wait a moment and try again.</p>
      <button type="button" onClick={reset}>Try again</button>
    </section>
  );
}
