// Preemption points for guests that share a worker thread (what wasmtime calls epoch interruption).
//
// Many guests run on one thread: each suspends (JSPI) when it waits, letting the others run. A guest
// that computes without calling the host would keep the thread to itself, and neither its neighbours'
// timers nor a stop could reach it. So before compiling a module for a shared thread we rewrite it:
// at the entry of every function and the head of every loop the guest decrements a fuel counter,
// and when the counter reaches zero it calls the host, which refills it and may suspend the guest
// (its time slice is used up), end it (a forced stop) or throttle it (limits.cpu). No loop and no
// recursion can run long without passing one of these points.
//
// The call goes through a table rather than a new import so that no function index moves (an import
// would renumber every defined function, and with it calls, exports, element segments and names):
//   - a type `(func)` is appended to the type section,
//   - a funcref table of one element is appended and exported as PREEMPT_TABLE; the host puts a
//     function there that calls its JSPI-suspending preemption handler (see worker.ts),
//   - a mutable i32 global (the fuel) is appended and exported as PREEMPT_FUEL,
//   - each check is `if (fuel == 0) call_indirect; fuel -= 1`.
//
// Modules this rewriter does not fully understand are refused (PreemptRefused) and run on a thread of
// their own instead: GC and unknown opcodes, and exception handling (a guest that catches host
// exceptions could swallow the one that ends it).

import { WasmFormatError, encodeU32, readU32, skipLeb } from './leb128.ts';

export const PREEMPT_TABLE = '__strata_preempt';
export const PREEMPT_FUEL = '__strata_fuel';
/** Preemption points passed between two calls to the host's handler. */
export const FUEL_PER_CHECK = 20_000;

/** The module cannot be given preemption points (the reason says why); run it on its own thread. */
export class PreemptRefused extends Error {}

const SECTION = { type: 1, import: 2, func: 3, table: 4, memory: 5, tag: 13, global: 6, export: 7, code: 10 };
/** Where each section sits in the (id-independent) order the binary format prescribes. */
const ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];

interface Section {
  id: number;
  payload: Uint8Array;
}

/** Returns the module with preemption points, or throws PreemptRefused / WasmFormatError. */
export function addPreemptionPoints(bytes: Uint8Array): Uint8Array {
  const sections = splitSections(bytes);
  const find = (id: number): Section | undefined => sections.find((s) => s.id === id);
  const imports = countImports(find(SECTION.import)?.payload);
  const typeIndex = appendType(sections, find(SECTION.type));
  const tableIndex = imports.tables + appendEntry(sections, SECTION.table, Uint8Array.of(0x70, 0x00, 0x01));
  const fuelInit = Uint8Array.of(0x7f, 0x01, 0x41, ...encodeS32(FUEL_PER_CHECK), 0x0b);
  const globalIndex = imports.globals + appendEntry(sections, SECTION.global, fuelInit);
  appendEntry(sections, SECTION.export, exportEntry(PREEMPT_TABLE, 0x01, tableIndex));
  appendEntry(sections, SECTION.export, exportEntry(PREEMPT_FUEL, 0x03, globalIndex));
  const g = encodeU32(globalIndex);
  const check = Uint8Array.of(
    ...[0x23, ...g, 0x45, 0x04, 0x40], // if (fuel == 0)
    ...[0x41, 0x00, 0x11, ...encodeU32(typeIndex), ...encodeU32(tableIndex), 0x0b], // table[0]()
    ...[0x23, ...g, 0x41, 0x01, 0x6b, 0x24, ...g], // fuel -= 1
  );
  const code = find(SECTION.code);
  if (code) code.payload = rewriteCode(code.payload, check);
  return joinSections(bytes.subarray(0, 8), sections);
}

function splitSections(bytes: Uint8Array): Section[] {
  const out: Section[] = [];
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos];
    const { value: size, next } = readU32(bytes, pos + 1);
    if (next + size > bytes.length)
      throw new WasmFormatError(`section ${id} runs past the end of the module`);
    out.push({ id, payload: bytes.subarray(next, next + size) });
    pos = next + size;
  }
  return out;
}

function joinSections(header: Uint8Array, sections: Section[]): Uint8Array {
  const parts: Uint8Array[] = [header];
  for (const s of sections) parts.push(Uint8Array.of(s.id), encodeU32(s.payload.length), s.payload);
  return concat(parts);
}

/** Appends one entry to a vector section (creating the section in its place); returns its index. */
function appendEntry(sections: Section[], id: number, entry: Uint8Array): number {
  let s = sections.find((x) => x.id === id);
  if (!s) {
    s = { id, payload: encodeU32(0) };
    const rank = ORDER.indexOf(id);
    const at = sections.findIndex((x) => x.id !== 0 && ORDER.indexOf(x.id) > rank);
    sections.splice(at < 0 ? sections.length : at, 0, s);
  }
  const { value: count, next } = readU32(s.payload, 0);
  s.payload = concat([encodeU32(count + 1), s.payload.subarray(next), entry]);
  return count;
}

/** Appends `(func)`; refuses type sections with GC-proposal entries (rec groups, subtypes). */
function appendType(sections: Section[], types: Section | undefined): number {
  if (types) {
    const p = types.payload;
    const { value: count, next } = readU32(p, 0);
    let pos = next;
    for (let i = 0; i < count; i++) {
      if (p[pos] !== 0x60) throw new PreemptRefused('the module uses GC-proposal types');
      pos++;
      for (let vec = 0; vec < 2; vec++) {
        const n = readU32(p, pos);
        pos = n.next;
        for (let k = 0; k < n.value; k++) pos = skipValType(p, pos);
      }
    }
  }
  return appendEntry(sections, SECTION.type, Uint8Array.of(0x60, 0x00, 0x00));
}

function countImports(p: Uint8Array | undefined): { tables: number; globals: number } {
  const c = { tables: 0, globals: 0 };
  if (!p) return c;
  const { value: count, next } = readU32(p, 0);
  let pos = next;
  for (let i = 0; i < count; i++) {
    for (let name = 0; name < 2; name++) {
      const n = readU32(p, pos);
      pos = n.next + n.value;
    }
    const kind = p[pos++];
    if (kind === 0x00) pos = skipLeb(p, pos);
    else if (kind === 0x01) {
      c.tables++;
      pos = skipValType(p, pos);
      const flags = p[pos++];
      pos = skipLeb(p, pos);
      if (flags & 1) pos = skipLeb(p, pos);
    } else if (kind === 0x02) {
      const flags = p[pos++];
      pos = skipLeb(p, pos);
      if (flags & 1) pos = skipLeb(p, pos);
    } else if (kind === 0x03) {
      c.globals++;
      pos = skipValType(p, pos) + 1;
    } else if (kind === 0x04) pos = skipLeb(p, pos + 1);
    else throw new WasmFormatError(`unknown import kind ${kind}`);
  }
  return c;
}

function exportEntry(name: string, kind: number, index: number): Uint8Array {
  const n = new TextEncoder().encode(name);
  return Uint8Array.of(...encodeU32(n.length), ...n, kind, ...encodeU32(index));
}

/** Inserts `check` at each function's entry and after each `loop` instruction's block type. */
function rewriteCode(p: Uint8Array, check: Uint8Array): Uint8Array {
  const { value: count, next } = readU32(p, 0);
  const parts: Uint8Array[] = [encodeU32(count)];
  let pos = next;
  for (let f = 0; f < count; f++) {
    const { value: size, next: start } = readU32(p, pos);
    const end = start + size;
    if (end > p.length) throw new WasmFormatError(`function body ${f} runs past the code section`);
    const body: Uint8Array[] = [];
    let at = skipLocals(p, start);
    body.push(p.subarray(start, at), check);
    let copied = at;
    while (at < end) {
      const op = p[at];
      const after = skipInstruction(p, at, end);
      if (op === 0x03) {
        body.push(p.subarray(copied, after), check);
        copied = after;
      }
      at = after;
    }
    if (at !== end) throw new WasmFormatError(`function body ${f} is malformed`);
    body.push(p.subarray(copied, end));
    const joined = concat(body);
    parts.push(encodeU32(joined.length), joined);
    pos = end;
  }
  return concat(parts);
}

function skipLocals(p: Uint8Array, pos: number): number {
  const { value: groups, next } = readU32(p, pos);
  pos = next;
  for (let i = 0; i < groups; i++) pos = skipValType(p, skipLeb(p, pos));
  return pos;
}

/** Value types are one byte, except `(ref null? heaptype)` which carry a heap type. */
function skipValType(p: Uint8Array, pos: number): number {
  const t = p[pos];
  return t === 0x63 || t === 0x64 ? skipLeb(p, pos + 1) : pos + 1;
}

/** A block type: empty (0x40), a value type, or a type index (s33). */
function skipBlockType(p: Uint8Array, pos: number): number {
  const b = p[pos];
  if (b === 0x40 || (b >= 0x6f && b <= 0x7f)) return pos + 1;
  if (b === 0x63 || b === 0x64) return skipLeb(p, pos + 1);
  return skipLeb(p, pos);
}

/** memarg: alignment (bit 6 set: a memory index follows), offset. */
function skipMemarg(p: Uint8Array, pos: number): number {
  const align = readU32(p, pos);
  pos = align.next;
  if (align.value & 0x40) pos = skipLeb(p, pos);
  return skipLeb(p, pos);
}

/** Returns the position after the instruction at `pos`. */
function skipInstruction(p: Uint8Array, pos: number, end: number): number {
  const op = p[pos++];
  if (pos > end) throw new WasmFormatError('truncated instruction');
  switch (op) {
    case 0x02: // block
    case 0x03: // loop
    case 0x04: // if
      return skipBlockType(p, pos);
    case 0x06:
    case 0x07:
    case 0x08:
    case 0x09:
    case 0x0a:
    case 0x18:
    case 0x19:
    case 0x1f:
      throw new PreemptRefused('the module uses exception handling');
    case 0x0c: // br
    case 0x0d: // br_if
    case 0x10: // call
    case 0x12: // return_call
    case 0x14: // call_ref
    case 0x15: // return_call_ref
    case 0xd2: // ref.func
    case 0xd4: // br_on_null
    case 0xd6: // br_on_non_null
      return skipLeb(p, pos);
    case 0x0e: {
      // br_table: a vector of labels and a default
      const n = readU32(p, pos);
      pos = n.next;
      for (let i = 0; i <= n.value; i++) pos = skipLeb(p, pos);
      return pos;
    }
    case 0x11: // call_indirect type table
    case 0x13: // return_call_indirect
      return skipLeb(p, skipLeb(p, pos));
    case 0x1c: {
      // select with types
      const n = readU32(p, pos);
      pos = n.next;
      for (let i = 0; i < n.value; i++) pos = skipValType(p, pos);
      return pos;
    }
    case 0x3f: // memory.size
    case 0x40: // memory.grow
      return skipLeb(p, pos);
    case 0x41: // i32.const
    case 0x42: // i64.const
      return skipLeb(p, pos);
    case 0x43: // f32.const
      return pos + 4;
    case 0x44: // f64.const
      return pos + 8;
    case 0xd0: // ref.null heaptype
      return skipLeb(p, pos);
    case 0xfc:
      return skipPrefixFC(p, pos);
    case 0xfd:
      return skipPrefixFD(p, pos);
    case 0xfe: {
      const sub = readU32(p, pos);
      return sub.value === 0x03 ? sub.next + 1 : skipMemarg(p, sub.next);
    }
  }
  if (op <= 0x01 || op === 0x05 || op === 0x0b || op === 0x0f || op === 0x1a || op === 0x1b) return pos;
  if (op >= 0x20 && op <= 0x26) return skipLeb(p, pos); // local.*, global.*, table.get/set
  if (op >= 0x28 && op <= 0x3e) return skipMemarg(p, pos); // loads and stores
  if (op >= 0x45 && op <= 0xc4) return pos; // numeric, incl. sign extension
  if (op === 0xd1 || op === 0xd3 || op === 0xd5) return pos; // ref.is_null, ref.as_non_null, ref.eq
  throw new PreemptRefused(
    `the module uses opcode 0x${op.toString(16)}, which the preemption rewriter does not know`,
  );
}

function skipPrefixFC(p: Uint8Array, pos: number): number {
  const { value: sub, next } = readU32(p, pos);
  if (sub <= 7) return next; // saturating truncations
  switch (sub) {
    case 8: // memory.init data mem
    case 10: // memory.copy mem mem
    case 12: // table.init elem table
    case 14: // table.copy table table
      return skipLeb(p, skipLeb(p, next));
    case 9: // data.drop
    case 11: // memory.fill
    case 13: // elem.drop
    case 15: // table.grow
    case 16: // table.size
    case 17: // table.fill
      return skipLeb(p, next);
  }
  throw new PreemptRefused(`the module uses opcode 0xfc ${sub}, which the preemption rewriter does not know`);
}

function skipPrefixFD(p: Uint8Array, pos: number): number {
  const { value: sub, next } = readU32(p, pos);
  if (sub <= 11 || sub === 92 || sub === 93) return skipMemarg(p, next); // loads, stores, load_zero
  if (sub === 12 || sub === 13) return next + 16; // v128.const, i8x16.shuffle
  if (sub >= 21 && sub <= 34) return next + 1; // extract/replace lane
  if (sub >= 84 && sub <= 91) return skipMemarg(p, next) + 1; // load/store lane
  if (sub <= 0x113) return next; // the remaining SIMD (and relaxed SIMD) opcodes take no immediates
  throw new PreemptRefused(`the module uses opcode 0xfd ${sub}, which the preemption rewriter does not know`);
}

function encodeS32(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const x of parts) size += x.length;
  const out = new Uint8Array(size);
  let off = 0;
  for (const x of parts) {
    out.set(x, off);
    off += x.length;
  }
  return out;
}
