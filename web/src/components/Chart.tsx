// One figure of one pod or node over time, from the server's bounded history (/strata/metrics/history),
// drawn with uPlot and refreshed every 10 s (the history's resolution). A table of the latest value is the
// accessible twin of the canvas.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useFetch } from '../api.ts';

interface History {
  stepSeconds: number;
  series: Array<{ entity: string; points: Array<{ t: number; v: number }> }>;
}

const WINDOW_MS = 30 * 60 * 1000;

export function Chart({
  entity,
  figure,
  title,
  format,
}: {
  entity: string;
  figure: string;
  title: string;
  format: (v: number) => string;
}) {
  // The window start is fixed per mount: the path stays stable, so useFetch's timer does the refreshing.
  const since = useRef(Date.now() - WINDOW_MS).current;
  const { data, error } = useFetch<History>(
    `/strata/metrics/history?figure=${encodeURIComponent(figure)}&entity=${encodeURIComponent(entity)}&since=${since}`,
    10_000,
  );
  const box = useRef<HTMLDivElement>(null);
  const points = data?.series[0]?.points ?? [];
  useEffect(() => {
    const el = box.current;
    if (!el || points.length === 0) return;
    const plot = new uPlot(
      {
        width: Math.max(280, el.clientWidth || 480),
        height: 160,
        series: [
          {},
          {
            label: title,
            stroke: '#1f6feb',
            fill: 'rgba(31,111,235,0.12)',
            value: (_u, v) => (v == null ? '—' : format(v)),
          },
        ],
        axes: [{}, { values: (_u, vals) => vals.map((v) => format(v)), size: 90 }],
        legend: { show: false },
      },
      [points.map((p) => p.t / 1000), points.map((p) => p.v)],
      el,
    );
    return () => plot.destroy();
  }, [points, title, format]);
  const latest = points.at(-1);
  return (
    <figure className="chart">
      <figcaption>
        {title}
        {latest ? `: ${format(latest.v)} now` : ''}
      </figcaption>
      {error ? (
        <p className="muted">history unavailable: {error.message}</p>
      ) : points.length === 0 ? (
        <p className="muted">no samples yet (the server reads each node's stats every 10 s)</p>
      ) : (
        <div ref={box} role="img" aria-label={`${title} over the last ${points.length} samples`} />
      )}
    </figure>
  );
}
