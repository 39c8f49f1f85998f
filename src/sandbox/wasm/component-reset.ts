// Recycling a component instance by putting its state back as it was right after instantiation, so
// that one instance can serve request after request while each request still sees a fresh instance.
//
// Why: a componentize-js (StarlingMonkey) handler cannot serve a second request on the same instance
// (its FetchEvent state is not cleared: "FetchEvent#respondWith can't be called twice on the same
// event", bytecodealliance/StarlingMonkey#247), and making a new instance of its 13 MB engine costs
// tens of milliseconds. wasmtime's pooling allocator answers the same problem for instance-per-request
// hosts (wasmtime serve, Spin) by resetting a slot's memory to the module's initial image.
//
// A core instance's state is its linear memories, its mutable globals and its tables (what Wizer, which
// componentize-js uses to make its snapshot, considers an instance's state too). Of these, only what
// the module exports is reachable from JavaScript, so `exposeState` rewrites each core module to also
// export every memory, mutable global and table it defines, under `strata:state/…` names that no
// component glue asks for. `StateSnapshot.take` copies them after instantiation; `restore` writes them
// back after a request. An instance whose memory grew, or whose tables changed size, cannot be put back
// (wasm memories do not shrink): `restore` says so and the caller discards the instance.
//
// What it does not reset: host-side objects the glue or the WASI host keeps for an instance (resource
// handle tables of jco's glue, open descriptors of the filesystem shim). A request that leaks handles
// leaks them on the host until the instance is retired (component-pool.ts retires instances after a
// number of requests).
import { encodeU32, readU32, skipLeb, WasmFormatError } from './leb128.ts';
import { checkPreamble } from './memory-cap.ts';
import type { WasmInstance } from './webassembly.ts';

export const STATE_EXPORT_PREFIX = 'strata:state/';

const SECTION_IMPORT = 2;
const SECTION_TABLE = 4;
const SECTION_MEMORY = 5;
const SECTION_GLOBAL = 6;
const SECTION_EXPORT = 7;

const KIND_FUNC = 0;
const KIND_TABLE = 1;
const KIND_MEMORY = 2;
const KIND_GLOBAL = 3;
const KIND_TAG = 4;

/** Value and reference types that are one byte (i32 … v128, funcref, externref). */
const ONE_BYTE_TYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f]);

interface Counts {
  importedTables: number;
  importedMemories: number;
  importedGlobals: number;
  definedTables: number;
  definedMemories: number;
  /** Indexes (in the global index space) of the mutable globals the module defines. */
  mutableGlobals: number[];
}

function valueType(b: Uint8Array, pos: number): number {
  const t = b[pos];
  if (!ONE_BYTE_TYPES.has(t))
    throw new WasmFormatError(`value type 0x${t?.toString(16)} (typed references, GC) is not supported`);
  return pos + 1;
}

function skipLimits(b: Uint8Array, pos: number): number {
  const flags = b[pos];
  if (flags & ~0x03) throw new WasmFormatError(`limits flags 0x${flags.toString(16)} are not supported`);
  let p = readU32(b, pos + 1).next;
  if (flags & 1) p = readU32(b, p).next;
  return p;
}

/** Skips a constant expression (global initialisers): the MVP, extended-const and reference opcodes. */
function skipConstExpr(b: Uint8Array, pos: number): number {
  let p = pos;
  for (;;) {
    const op = b[p++];
    if (op === 0x0b) return p;
    if (op === 0x41 || op === 0x42 || op === 0x23 || op === 0xd2) p = skipLeb(b, p);
    else if (op === 0x43) p += 4;
    else if (op === 0x44) p += 8;
    else if (op === 0xd0) p = valueType(b, p);
    else if (op === 0x6a || op === 0x6b || op === 0x6c || op === 0x7c || op === 0x7d || op === 0x7e) continue;
    else if (op === 0xfd && b[p] === 0x0c) p += 17;
    else throw new WasmFormatError(`constant expression opcode 0x${op?.toString(16)} is not supported`);
    if (p > b.length) throw new WasmFormatError('truncated constant expression');
  }
}

function skipName(b: Uint8Array, pos: number): number {
  const { value, next } = readU32(b, pos);
  return next + value;
}

function countImports(b: Uint8Array, c: Counts): void {
  let { value: n, next: p } = readU32(b, 0);
  while (n-- > 0) {
    p = skipName(b, skipName(b, p));
    const kind = b[p++];
    if (kind === KIND_FUNC) p = readU32(b, p).next;
    else if (kind === KIND_TABLE) {
      p = skipLimits(b, valueType(b, p));
      c.importedTables++;
    } else if (kind === KIND_MEMORY) {
      p = skipLimits(b, p);
      c.importedMemories++;
    } else if (kind === KIND_GLOBAL) {
      p = valueType(b, p) + 1;
      c.importedGlobals++;
    } else if (kind === KIND_TAG) p = readU32(b, p + 1).next;
    else throw new WasmFormatError(`import kind ${kind} is not supported`);
  }
}

function countGlobals(b: Uint8Array, c: Counts): void {
  const { value: n, next } = readU32(b, 0);
  let p = next;
  for (let i = 0; i < n; i++) {
    p = valueType(b, p);
    const mutable = b[p++] === 1;
    p = skipConstExpr(b, p);
    if (mutable) c.mutableGlobals.push(c.importedGlobals + i);
  }
}

function countTables(b: Uint8Array, c: Counts): void {
  let { value: n, next: p } = readU32(b, 0);
  c.definedTables = n;
  while (n-- > 0) {
    if (b[p] === 0x40) throw new WasmFormatError('tables with initialisers are not supported');
    p = skipLimits(b, valueType(b, p));
  }
}

function exportEntry(name: string, kind: number, index: number): Uint8Array {
  const nameBytes = new TextEncoder().encode(name);
  return Uint8Array.from([...encodeU32(nameBytes.length), ...nameBytes, kind, ...encodeU32(index)]);
}

/**
 * The module with an extra export for every memory, mutable global and table it defines
 * (`strata:state/memory/<index>`, `…/global/<index>`, `…/table/<index>`). Throws WasmFormatError for
 * what it does not understand (the caller then does not recycle instances of this component).
 */
export function exposeState(bytes: Uint8Array): Uint8Array {
  checkPreamble(bytes);
  const c: Counts = {
    importedTables: 0,
    importedMemories: 0,
    importedGlobals: 0,
    definedTables: 0,
    definedMemories: 0,
    mutableGlobals: [],
  };
  const sections: Array<{ id: number; start: number; end: number; payloadStart: number }> = [];
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos];
    const { value: size, next: payloadStart } = readU32(bytes, pos + 1);
    const end = payloadStart + size;
    if (end > bytes.length) throw new WasmFormatError(`section ${id} runs past the end of the module`);
    const payload = bytes.subarray(payloadStart, end);
    if (id === SECTION_IMPORT) countImports(payload, c);
    else if (id === SECTION_TABLE) countTables(payload, c);
    else if (id === SECTION_MEMORY) c.definedMemories = readU32(payload, 0).value;
    else if (id === SECTION_GLOBAL) countGlobals(payload, c);
    sections.push({ id, start: pos, end, payloadStart });
    pos = end;
  }
  const extra: Uint8Array[] = [];
  for (let i = 0; i < c.definedMemories; i++) {
    const index = c.importedMemories + i;
    extra.push(exportEntry(`${STATE_EXPORT_PREFIX}memory/${index}`, KIND_MEMORY, index));
  }
  for (const index of c.mutableGlobals)
    extra.push(exportEntry(`${STATE_EXPORT_PREFIX}global/${index}`, KIND_GLOBAL, index));
  for (let i = 0; i < c.definedTables; i++) {
    const index = c.importedTables + i;
    extra.push(exportEntry(`${STATE_EXPORT_PREFIX}table/${index}`, KIND_TABLE, index));
  }
  if (extra.length === 0) return bytes;

  const pieces: Uint8Array[] = [bytes.subarray(0, 8)];
  const existing = sections.find((s) => s.id === SECTION_EXPORT);
  let oldCount = 0;
  let oldEntries: Uint8Array = new Uint8Array();
  if (existing) {
    const payload = bytes.subarray(existing.payloadStart, existing.end);
    const { value, next } = readU32(payload, 0);
    oldCount = value;
    oldEntries = payload.subarray(next);
  }
  const exportPayload = concat([encodeU32(oldCount + extra.length), oldEntries, ...extra]);
  const exportSection = concat([
    Uint8Array.of(SECTION_EXPORT),
    encodeU32(exportPayload.length),
    exportPayload,
  ]);
  let placed = false;
  for (const s of sections) {
    if (s.id === SECTION_EXPORT) {
      pieces.push(exportSection);
      placed = true;
      continue;
    }
    // Without an export section, it goes before the first section that must follow it (start,
    // element, data count, code, data); custom sections (id 0) stay where they are.
    if (!placed && !existing && s.id !== 0 && s.id > SECTION_EXPORT) {
      pieces.push(exportSection);
      placed = true;
    }
    pieces.push(bytes.subarray(s.start, s.end));
  }
  if (!placed) pieces.push(exportSection);
  return concat(pieces);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface Memory {
  readonly buffer: ArrayBuffer;
}
interface Global {
  value: unknown;
}
interface Table {
  readonly length: number;
  get(i: number): unknown;
  set(i: number, v: unknown): void;
}

/** The state of a component instance's core instances, as it was when taken. */
export class StateSnapshot {
  private readonly memories: Array<{ memory: Memory; bytes: Uint8Array }>;
  private readonly globals: Array<{ global: Global; value: unknown }>;
  private readonly tables: Array<{ table: Table; entries: unknown[] }>;

  private constructor(
    memories: Array<{ memory: Memory; bytes: Uint8Array }>,
    globals: Array<{ global: Global; value: unknown }>,
    tables: Array<{ table: Table; entries: unknown[] }>,
  ) {
    this.memories = memories;
    this.globals = globals;
    this.tables = tables;
  }

  /** Copies the state the core instances expose (modules rewritten by `exposeState`). */
  static take(instances: WasmInstance[]): StateSnapshot {
    const memories: Array<{ memory: Memory; bytes: Uint8Array }> = [];
    const globals: Array<{ global: Global; value: unknown }> = [];
    const tables: Array<{ table: Table; entries: unknown[] }> = [];
    for (const instance of instances) {
      for (const [name, value] of Object.entries(instance.exports)) {
        if (!name.startsWith(STATE_EXPORT_PREFIX)) continue;
        const what = name.slice(STATE_EXPORT_PREFIX.length);
        if (what.startsWith('memory/')) {
          const memory = value as Memory;
          memories.push({ memory, bytes: new Uint8Array(memory.buffer).slice() });
        } else if (what.startsWith('global/')) {
          const global = value as Global;
          globals.push({ global, value: global.value });
        } else if (what.startsWith('table/')) {
          const table = value as Table;
          const entries: unknown[] = [];
          for (let i = 0; i < table.length; i++) entries.push(table.get(i));
          tables.push({ table, entries });
        }
      }
    }
    return new StateSnapshot(memories, globals, tables);
  }

  /** Bytes of linear memory a restore copies. */
  get memoryBytes(): number {
    return this.memories.reduce((n, m) => n + m.bytes.length, 0);
  }

  /**
   * Puts the state back. False (and nothing half-done that matters: the caller drops the instance)
   * when it cannot: a memory grew or a table changed size since the snapshot.
   */
  restore(): boolean {
    for (const m of this.memories) if (m.memory.buffer.byteLength !== m.bytes.length) return false;
    for (const t of this.tables) if (t.table.length !== t.entries.length) return false;
    for (const m of this.memories) new Uint8Array(m.memory.buffer).set(m.bytes);
    for (const g of this.globals) g.global.value = g.value;
    for (const t of this.tables)
      for (let i = 0; i < t.entries.length; i++)
        if (t.table.get(i) !== t.entries[i]) t.table.set(i, t.entries[i]);
    return true;
  }
}
