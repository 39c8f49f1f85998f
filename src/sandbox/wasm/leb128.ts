// Unsigned LEB128, the variable-length integer encoding of the WebAssembly binary format.

export class WasmFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WasmFormatError';
  }
}

/** Reads a u32 at `pos`; returns the value and the position after it. Rejects over-long encodings. */
export function readU32(bytes: Uint8Array, pos: number): { value: number; next: number } {
  let result = 0;
  let shift = 0;
  for (let i = 0; i < 5; i++) {
    if (pos + i >= bytes.length) throw new WasmFormatError(`truncated LEB128 at byte ${pos}`);
    const b = bytes[pos + i];
    if (i === 4 && b > 0x0f) throw new WasmFormatError(`LEB128 u32 overflow at byte ${pos}`);
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return { value: result, next: pos + i + 1 };
  }
  throw new WasmFormatError(`LEB128 u32 too long at byte ${pos}`);
}

/** Skips any LEB128 (signed or unsigned, up to 64 bits) at `pos`; returns the position after it. */
export function skipLeb(bytes: Uint8Array, pos: number): number {
  for (let i = 0; i < 10; i++) {
    if (pos + i >= bytes.length) throw new WasmFormatError(`truncated LEB128 at byte ${pos}`);
    if ((bytes[pos + i] & 0x80) === 0) return pos + i + 1;
  }
  throw new WasmFormatError(`LEB128 too long at byte ${pos}`);
}

export function encodeU32(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
    throw new RangeError(`not a u32: ${value}`);
  const out: number[] = [];
  let v = value;
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return Uint8Array.from(out);
}
