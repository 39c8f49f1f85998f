// The dashboard's shell: the session (login page until /ui/session answers), the navigation, hash routes.
import { StrictMode, Suspense, lazy, useCallback, useEffect, useState, type ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { api, setCsrfToken, setUnauthorizedHandler } from './api.ts';
import { Link, useRoute } from './router.tsx';
import { Login, type SessionInfo } from './pages/Login.tsx';
import { Overview } from './pages/Overview.tsx';
import { Workloads } from './pages/Workloads.tsx';
import { Events } from './pages/Events.tsx';
import { Alerts } from './pages/Alerts.tsx';
import './style.css';

// The heavy parts (xterm.js, uPlot, the YAML parser) load with the pages that use them, so the overview
// comes up on the smallest bundle.
const PodDetail = lazy(() => import('./pages/PodDetail.tsx').then((m) => ({ default: m.PodDetail })));
const NodeDetail = lazy(() => import('./pages/NodeDetail.tsx').then((m) => ({ default: m.NodeDetail })));
const Apply = lazy(() => import('./pages/Apply.tsx').then((m) => ({ default: m.Apply })));

const NAV: Array<[string, string]> = [
  ['#/', 'Overview'],
  ['#/workloads', 'Workloads'],
  ['#/events', 'Events'],
  ['#/alerts', 'Alerts & policy'],
  ['#/apply', 'Create / edit YAML'],
];

function Page({ route }: { route: string[] }): ReactNode {
  const [first, ...rest] = route;
  switch (first) {
    case undefined:
    case '':
      return <Overview />;
    case 'workloads':
      return <Workloads tier={rest[0]} />;
    case 'pods':
      return <PodDetail namespace={rest[0]} name={rest[1]} />;
    case 'nodes':
      return <NodeDetail name={rest[0]} />;
    case 'events':
      return <Events />;
    case 'alerts':
      return <Alerts />;
    case 'apply':
      return <Apply path={rest.length ? '/' + rest.join('/') : undefined} />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            No page at this address. <Link to="#/">Back to the overview</Link>.
          </p>
        </section>
      );
  }
}

function App(): ReactNode {
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const route = useRoute();
  const loggedIn = useCallback((s: SessionInfo) => {
    setCsrfToken(s.csrfToken);
    setSession(s);
  }, []);
  useEffect(() => {
    setUnauthorizedHandler(() => setSession(null));
    api<SessionInfo>('/ui/session').then(loggedIn, () => setSession(null));
  }, [loggedIn]);

  if (session === undefined) return <p className="loading">Loading…</p>;
  if (session === null) return <Login onLogin={loggedIn} />;
  const logout = async () => {
    await api('/ui/logout', { method: 'POST' }).catch(() => undefined);
    setSession(null);
  };
  const current = `#/${route[0] ?? ''}`;
  return (
    <>
      <a
        className="skip"
        href="#main"
        onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}
      >
        Skip to content
      </a>
      <header>
        <span className="brand">Strata</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([href, label]) => (
              <li key={href}>
                <Link to={href} current={href === current}>
                  {label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <span className="user">
          Signed in as <strong>{session.username}</strong>
          <button type="button" onClick={logout}>
            Log out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<p>Loading…</p>}>
          <Page route={route} />
        </Suspense>
      </main>
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
