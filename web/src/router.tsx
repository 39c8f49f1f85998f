// Hash routes (#/pods/NS/NAME): every page is the one /ui/ document, so the server needs no fallback rules
// and a reload keeps the page.
import { useEffect, useState, type ReactNode } from 'react';

function parse(hash: string): string[] {
  return hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter((s, i) => s !== '' || i === 0)
    .map(decodeURIComponent);
}

export function useRoute(): string[] {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const on = () => setRoute(parse(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function href(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join('/')}`;
}

export function Link({ to, current, children }: { to: string; current?: boolean; children: ReactNode }) {
  return (
    <a href={to} aria-current={current ? 'page' : undefined}>
      {children}
    </a>
  );
}
