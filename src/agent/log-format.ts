// The on-disk format of container logs: CRI log records, one per line, as the kubelet stores them —
//   <RFC3339 time with nanoseconds> <stdout|stderr> <P|F> <content>\n
// F: the content ended with a newline (not stored); P: partial, the line continues in the next record.
// Keeping the time and the stream of every line is what lets `logs --timestamps/--since-time` and
// `attach` (stdout and stderr apart) work.
import { performance } from 'node:perf_hooks';

export type LogStream = 'stdout' | 'stderr';

export interface LogRecord {
  /** As stored (RFC 3339, nanosecond digits). */
  time: string;
  /** Milliseconds since the epoch, for comparisons. */
  ms: number;
  stream: LogStream;
  /** True when the line continues in the next record. */
  partial: boolean;
  content: Buffer;
}

const NEWLINE = 0x0a;

/** Now, with the sub-millisecond digits performance.now() has (RFC 3339, 9 fractional digits, UTC). */
export function nowRfc3339Nano(): string {
  const ms = performance.timeOrigin + performance.now();
  const whole = Math.floor(ms);
  const nanos = Math.floor((ms - whole) * 1e6);
  return new Date(whole).toISOString().replace('Z', `${String(nanos).padStart(6, '0')}Z`);
}

/** The records for one chunk a container wrote: a record per line, the unterminated rest as P. */
export function formatRecords(stream: LogStream, chunk: Uint8Array, time = nowRfc3339Nano()): Buffer {
  const data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  const parts: Buffer[] = [];
  let start = 0;
  while (start < data.length) {
    const nl = data.indexOf(NEWLINE, start);
    const end = nl < 0 ? data.length : nl;
    parts.push(Buffer.from(`${time} ${stream} ${nl < 0 ? 'P' : 'F'} `), data.subarray(start, end), NL);
    start = end + 1;
  }
  return Buffer.concat(parts);
}
const NL = Buffer.from('\n');

/**
 * One stored line (without its newline). A line that is not a record (a log written before this
 * format) comes back as a full stdout line without a time.
 */
export function parseRecord(line: Buffer): LogRecord {
  const s1 = line.indexOf(0x20);
  const s2 = s1 < 0 ? -1 : line.indexOf(0x20, s1 + 1);
  const tag = s2 < 0 ? '' : line.toString('latin1', s2 + 1, s2 + 2);
  const stream = s2 < 0 ? '' : line.toString('latin1', s1 + 1, s2);
  const ms = s1 < 0 ? NaN : Date.parse(line.toString('latin1', 0, s1));
  const wellFormed =
    (stream === 'stdout' || stream === 'stderr') &&
    (tag === 'P' || tag === 'F') &&
    (line.length === s2 + 2 || line[s2 + 2] === 0x20) &&
    !Number.isNaN(ms);
  if (!wellFormed) return { time: '', ms: NaN, stream: 'stdout', partial: false, content: line };
  return {
    time: line.toString('latin1', 0, s1),
    ms,
    stream: stream as LogStream,
    partial: tag === 'P',
    content: line.subarray(Math.min(line.length, s2 + 3)),
  };
}
