// Enforces a pod's memory limit as a hard cap on the guest's linear memory.
//
// Worker resourceLimits do not bound wasm memory, and a wasm memory grows only up to the maximum its
// module declares. So we rewrite the module before compiling it: every memory (defined in the memory
// section or imported) gets maximum = min(declared maximum, limit in 64 KiB pages). memory.grow past
// it then fails inside the guest (malloc returns NULL), exactly like a container hitting its cgroup.

import { SandboxError } from '../driver.ts';
import { WasmFormatError, encodeU32, readU32, skipLeb } from './leb128.ts';

export const PAGE_BYTES = 65536;
/** wasm32 can address at most 4 GiB = 65536 pages. */
const MAX_PAGES_32 = 65536;

const SECTION_IMPORT = 2;
const SECTION_MEMORY = 5;

export interface MemoryInfo {
  imported: boolean;
  initialPages: number;
  /** The maximum the module declares, if any. */
  declaredMaxPages?: number;
  /** The maximum after capping (what the guest can really reach). */
  maxPages?: number;
}

export interface CappedModule {
  /** The module bytes to compile: the input itself when nothing had to change. */
  bytes: Uint8Array;
  memories: MemoryInfo[];
  /** The cap in pages, when a limit was given. */
  capPages?: number;
}

export function pagesForBytes(bytes: number): number {
  return Math.min(MAX_PAGES_32, Math.floor(bytes / PAGE_BYTES));
}

/** "16 MiB", "1.5 MiB", "640 KiB": for messages. */
export function formatBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  if (mib >= 1) return `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}

/** Checks the preamble; tells a component or a non-wasm file apart from a broken module. */
export function checkPreamble(bytes: Uint8Array): void {
  const magic =
    bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
  if (!magic) {
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new WasmFormatError(
      `not a WebAssembly module (it starts with bytes ${head || '(empty file)'}, not 00 61 73 6d)`,
    );
  }
  if (bytes.length < 8) throw new WasmFormatError('truncated WebAssembly header');
  const version = bytes[4] | (bytes[5] << 8);
  const layer = bytes[6] | (bytes[7] << 8);
  if (layer === 1) {
    throw new WasmFormatError(
      'this is a WebAssembly component; the wasm tier runs core modules (WASI preview1) only',
    );
  }
  if (version !== 1 || layer !== 0) throw new WasmFormatError(`unsupported WebAssembly version ${version}`);
}

/**
 * Returns the module with every memory's maximum capped at `capBytes` (when given) and a description
 * of its memories. Throws SandboxError when the module's initial memory is already over the cap, and
 * WasmFormatError when the binary cannot be parsed.
 */
export function applyMemoryCap(bytes: Uint8Array, capBytes?: number): CappedModule {
  checkPreamble(bytes);
  const capPages = capBytes === undefined ? undefined : pagesForBytes(capBytes);
  const memories: MemoryInfo[] = [];
  const pieces: Uint8Array[] = [bytes.subarray(0, 8)];
  let changed = false;
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos];
    const { value: size, next: start } = readU32(bytes, pos + 1);
    const end = start + size;
    if (end > bytes.length) throw new WasmFormatError(`section ${id} runs past the end of the module`);
    const payload = bytes.subarray(start, end);
    let rewritten: Uint8Array | undefined;
    if (id === SECTION_IMPORT) rewritten = rewriteImports(payload, capPages, memories);
    else if (id === SECTION_MEMORY) rewritten = rewriteMemories(payload, capPages, memories);
    // Without a cap the sections are parsed only to describe the memories; the bytes stay as they are.
    if (rewritten && capPages !== undefined) {
      changed = true;
      pieces.push(Uint8Array.of(id), encodeU32(rewritten.length), rewritten);
    } else {
      pieces.push(bytes.subarray(pos, end));
    }
    pos = end;
  }
  if (capPages !== undefined) {
    for (const m of memories) {
      if (m.initialPages > capPages) {
        throw new SandboxError(
          'CreateContainerError',
          `the module needs ${formatBytes(m.initialPages * PAGE_BYTES)} of linear memory at start, ` +
            `more than its memory limit of ${formatBytes(capPages * PAGE_BYTES)}`,
        );
      }
    }
  }
  return { bytes: changed ? concat(pieces) : bytes, memories, capPages };
}

interface Limits {
  flags: number;
  min: number;
  max?: number;
  next: number;
}

function readLimits(b: Uint8Array, pos: number): Limits {
  const flags = b[pos];
  if (flags === undefined) throw new WasmFormatError('truncated memory limits');
  if (flags & 0x04)
    throw new WasmFormatError('64-bit memories (memory64) are not supported by the wasm tier');
  if (flags & ~0x03) throw new WasmFormatError(`unknown memory limits flags 0x${flags.toString(16)}`);
  const min = readU32(b, pos + 1);
  if (!(flags & 1)) return { flags, min: min.value, next: min.next };
  const max = readU32(b, min.next);
  return { flags, min: min.value, max: max.value, next: max.next };
}

/** Encodes capped limits (always with a maximum; the shared bit is kept) and records the memory. */
function capLimits(
  l: Limits,
  capPages: number | undefined,
  imported: boolean,
  out: MemoryInfo[],
): Uint8Array {
  const maxPages = capPages === undefined ? l.max : Math.min(l.max ?? MAX_PAGES_32, capPages);
  out.push({ imported, initialPages: l.min, declaredMaxPages: l.max, maxPages });
  if (maxPages === undefined) return Uint8Array.of(l.flags, ...encodeU32(l.min));
  return Uint8Array.of(l.flags | 1, ...encodeU32(l.min), ...encodeU32(maxPages));
}

function rewriteMemories(p: Uint8Array, capPages: number | undefined, out: MemoryInfo[]): Uint8Array {
  const { value: count, next } = readU32(p, 0);
  const pieces: Uint8Array[] = [encodeU32(count)];
  let pos = next;
  for (let i = 0; i < count; i++) {
    const l = readLimits(p, pos);
    pieces.push(capLimits(l, capPages, false, out));
    pos = l.next;
  }
  if (pos !== p.length) throw new WasmFormatError('memory section has trailing bytes');
  return concat(pieces);
}

function rewriteImports(p: Uint8Array, capPages: number | undefined, out: MemoryInfo[]): Uint8Array {
  const { value: count, next } = readU32(p, 0);
  const pieces: Uint8Array[] = [];
  let copyFrom = 0;
  let pos = next;
  for (let i = 0; i < count; i++) {
    pos = skipName(p, skipName(p, pos));
    const kind = p[pos++];
    switch (kind) {
      case 0x00: // function: type index
        pos = skipLeb(p, pos);
        break;
      case 0x01: {
        // table: reference type, then limits (possibly 64-bit, so skip them generically)
        pos = skipValType(p, pos);
        const flags = p[pos++];
        pos = skipLeb(p, pos);
        if (flags & 1) pos = skipLeb(p, pos);
        break;
      }
      case 0x02: {
        const l = readLimits(p, pos);
        pieces.push(p.subarray(copyFrom, pos), capLimits(l, capPages, true, out));
        copyFrom = l.next;
        pos = l.next;
        break;
      }
      case 0x03: // global: value type, mutability
        pos = skipValType(p, pos) + 1;
        break;
      case 0x04: // tag: attribute, type index
        pos = skipLeb(p, pos + 1);
        break;
      default:
        throw new WasmFormatError(`unknown import kind ${kind} in import ${i}`);
    }
    if (pos > p.length) throw new WasmFormatError('import section is truncated');
  }
  if (pos !== p.length) throw new WasmFormatError('import section has trailing bytes');
  pieces.push(p.subarray(copyFrom));
  return concat(pieces);
}

function skipName(p: Uint8Array, pos: number): number {
  const { value: len, next } = readU32(p, pos);
  if (next + len > p.length) throw new WasmFormatError('import name runs past its section');
  return next + len;
}

/** Value/reference types are one byte, except GC-proposal `(ref null? ht)` which carry a heap type. */
function skipValType(p: Uint8Array, pos: number): number {
  const t = p[pos];
  return t === 0x63 || t === 0x64 ? skipLeb(p, pos + 1) : pos + 1;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
