// Paste a bearer token; the server checks it and answers with the session cookie (HttpOnly: this page never
// keeps the token) and the CSRF token the app sends on writes.
import { useState, type FormEvent } from 'react';
import { ApiError, api } from '../api.ts';

export interface SessionInfo {
  username: string;
  groups: string[];
  csrfToken: string;
}

export function Login({ onLogin }: { onLogin: (s: SessionInfo) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      onLogin(await api<SessionInfo>('/ui/login', { method: 'POST', body: { token } }));
    } catch (err) {
      setError(err instanceof ApiError ? (err.status?.message ?? err.message) : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" className="login">
      <h1>Strata dashboard</h1>
      <form onSubmit={submit} aria-describedby="login-help">
        <label htmlFor="token">Bearer token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'login-error' : undefined}
          required
        />
        <button type="submit" disabled={busy}>
          Log in
        </button>
        {error && (
          <p id="login-error" role="alert" className="error">
            {error}
          </p>
        )}
      </form>
      <p id="login-help" className="hint">
        Any token the API accepts: the admin token (<code>strata token</code> or <code>DATA/admin.token</code>
        ), a service account's (<code>kubectl create token NAME</code>), or one from the tokens file. What you
        may see and change is what RBAC grants that identity.
      </p>
    </main>
  );
}
