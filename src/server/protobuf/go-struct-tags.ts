// The Go struct tags of the k8s.io/api types, read out of a Go binary (kubectl) — for the one thing
// the protobuf descriptors do not say: each field's `json:"…"` tag (its JSON name, `omitempty`,
// `inline`), which decides what Go's encoding/json writes.
//
// Go keeps struct field names and tags in the binary for reflection. Every struct type is an
// abi.StructType in .rodata: the 48-byte abi.Type header (kind at byte 23, tflag at 20, name offset
// at 40), then PkgPath (8 bytes), then the Fields slice (pointer, len, cap), then — for named
// types — an abi.UncommonType whose first int32 is the package path's name offset. Each
// abi.StructField is {name pointer, type pointer, offset}; a name is a flags byte, a varint length,
// the bytes, and, when flags has bit 1, a varint length and the tag. This layout holds from Go 1.17
// on (varint name lengths); the caller checks the result covers the types it needs.

const KIND_MASK = 0x1f;
const KIND_STRUCT = 25;
const TFLAG_UNCOMMON = 1 << 0;
const TFLAG_EXTRA_STAR = 1 << 1;
const TFLAG_NAMED = 1 << 2;
const NAME_HAS_TAG = 1 << 1;
const SECTION_NOBITS = 8;

interface Section {
  name: string;
  type: number;
  addr: number;
  offset: number;
  size: number;
}

function elfSections(bin: Buffer): Section[] {
  if (bin.readUInt32BE(0) !== 0x7f454c46 || bin[4] !== 2 || bin[5] !== 1) {
    throw new Error('not a 64-bit little-endian ELF binary');
  }
  const shoff = Number(bin.readBigUInt64LE(0x28));
  const shentsize = bin.readUInt16LE(0x3a);
  const shnum = bin.readUInt16LE(0x3c);
  const shstrndx = bin.readUInt16LE(0x3e);
  const raw = Array.from({ length: shnum }, (_, i) => {
    const at = shoff + i * shentsize;
    return {
      nameOffset: bin.readUInt32LE(at),
      type: bin.readUInt32LE(at + 4),
      addr: Number(bin.readBigUInt64LE(at + 0x10)),
      offset: Number(bin.readBigUInt64LE(at + 0x18)),
      size: Number(bin.readBigUInt64LE(at + 0x20)),
    };
  });
  const strtab = raw[shstrndx].offset;
  return raw.map((s) => ({
    ...s,
    name: bin.toString('latin1', strtab + s.nameOffset, bin.indexOf(0, strtab + s.nameOffset)),
  }));
}

/**
 * Go struct type (`k8s.io/api/core/v1.PodSpec`) → protobuf field number → its `json:"…"` tag value
 * (the Go field name when it has none, which is what encoding/json then uses).
 */
export type GoJsonTags = Map<string, Map<number, string>>;

export function readGoJsonTags(bin: Buffer): GoJsonTags {
  const sections = elfSections(bin);
  const rodata = sections.find((s) => s.name === '.rodata');
  if (!rodata) throw new Error('the binary has no .rodata section');
  const loaded = sections.filter((s) => s.addr !== 0 && s.type !== SECTION_NOBITS);
  const fileOffset = (addr: number): number | undefined => {
    const s = loaded.find((x) => addr >= x.addr && addr < x.addr + x.size);
    return s && s.offset + (addr - s.addr);
  };
  const typesBase = rodata.addr; // runtime.types: the linker puts the type data first in .rodata

  const varint = (at: number): [number, number] => {
    let value = 0;
    let shift = 0;
    for (let i = at; i < at + 4; i++) {
      value |= (bin[i] & 0x7f) << shift;
      if (!(bin[i] & 0x80)) return [value, i + 1];
      shift += 7;
    }
    return [-1, at];
  };
  const readName = (addr: number): { name: string; tag?: string } | undefined => {
    const at = fileOffset(addr);
    if (at === undefined) return undefined;
    const [length, start] = varint(at + 1);
    if (length < 0 || start + length > bin.length) return undefined;
    const name = bin.toString('utf8', start, start + length);
    if (!(bin[at] & NAME_HAS_TAG)) return { name };
    const [tagLength, tagStart] = varint(start + length);
    if (tagLength < 0) return undefined;
    return { name, tag: bin.toString('utf8', tagStart, tagStart + tagLength) };
  };

  const tags: GoJsonTags = new Map();
  const end = rodata.offset + rodata.size - 88;
  for (let at = rodata.offset; at < end; at += 8) {
    const tflag = bin[at + 20];
    if ((bin[at + 23] & KIND_MASK) !== KIND_STRUCT) continue;
    if ((tflag & (TFLAG_UNCOMMON | TFLAG_NAMED)) !== (TFLAG_UNCOMMON | TFLAG_NAMED)) continue;
    const count = Number(bin.readBigUInt64LE(at + 64));
    if (count === 0 || count > 512 || count !== Number(bin.readBigUInt64LE(at + 72))) continue;
    const fields = fileOffset(Number(bin.readBigUInt64LE(at + 56)));
    if (fields === undefined) continue;
    const byNumber = new Map<number, string>();
    for (let i = 0; i < count; i++) {
      const field = readName(Number(bin.readBigUInt64LE(fields + i * 24)));
      const proto = field?.tag && /protobuf:"[a-z0-9]+,(\d+),/.exec(field.tag);
      if (!field || !proto) continue;
      // Without a json tag encoding/json uses the Go field name, as if tagged with it.
      const json = /(?:^| )json:"([^"]*)"/.exec(field.tag!);
      byNumber.set(Number(proto[1]), json ? json[1] : field.name);
    }
    if (byNumber.size === 0) continue;
    const typeName = readName(typesBase + bin.readInt32LE(at + 40))?.name;
    const pkgPath = readName(typesBase + bin.readInt32LE(at + 80))?.name;
    if (!typeName || !pkgPath) continue;
    const bare = (tflag & TFLAG_EXTRA_STAR ? typeName.slice(1) : typeName).split('.').pop();
    tags.set(`${pkgPath}.${bare}`, byNumber);
  }
  return tags;
}
