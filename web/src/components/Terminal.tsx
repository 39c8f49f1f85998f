// An exec terminal (xterm.js) on the API's own exec endpoint: a WebSocket speaking v5.channel.k8s.io (one
// leading byte per message names the stream: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize), as kubectl
// does. The browser sends the session cookie and its Origin; the server accepts the cookie on an upgrade
// only from this origin (src/server/ui-session.ts).
import { useEffect, useRef, useState } from 'react';
import { Terminal as XTerm } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;

export function Terminal({
  namespace,
  pod,
  container,
  command,
}: {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
}) {
  const box = useRef<HTMLDivElement>(null);
  const [state, setState] = useState('connecting');
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const term = new XTerm({ rows: 20, cols: 100, convertEol: false, fontSize: 13, screenReaderMode: true });
    term.open(el);
    const q = new URLSearchParams({ container, stdin: 'true', stdout: 'true', stderr: 'false', tty: 'true' });
    for (const c of command) q.append('command', c);
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = `${scheme}://${location.host}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/exec?${q}`;
    const ws = new WebSocket(url, ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
    ws.binaryType = 'arraybuffer';
    const encoder = new TextEncoder();
    const send = (channel: number, data: Uint8Array) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      const frame = new Uint8Array(data.length + 1);
      frame[0] = channel;
      frame.set(data, 1);
      ws.send(frame);
    };
    const resize = () =>
      send(RESIZE, encoder.encode(JSON.stringify({ Width: term.cols, Height: term.rows })));
    ws.onopen = () => {
      setState('connected');
      resize();
      term.focus();
    };
    ws.onmessage = (ev) => {
      const data = new Uint8Array(ev.data as ArrayBuffer);
      if (data.length === 0) return;
      const payload = data.subarray(1);
      if (data[0] === STDOUT || data[0] === STDERR) term.write(payload);
      else if (data[0] === ERROR) {
        const text = new TextDecoder().decode(payload);
        try {
          const status = JSON.parse(text) as { status?: string; message?: string };
          if (status.status !== 'Success') term.write(`\r\n\x1b[31m${status.message ?? text}\x1b[0m\r\n`);
        } catch {
          term.write(`\r\n\x1b[31m${text}\x1b[0m\r\n`);
        }
      }
    };
    ws.onclose = (ev) =>
      setState(ev.code === 1000 ? 'ended' : `closed (${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`);
    ws.onerror = () => setState('failed: the server refused the exec stream');
    const input = term.onData((d) => send(STDIN, encoder.encode(d)));
    const resized = term.onResize(resize);
    return () => {
      input.dispose();
      resized.dispose();
      ws.close();
      term.dispose();
    };
  }, [namespace, pod, container, command]);
  return (
    <div className="terminal">
      <p role="status" className="muted">
        Terminal: {state}
      </p>
      <div ref={box} aria-label={`Terminal in ${pod}/${container}`} />
    </div>
  );
}
