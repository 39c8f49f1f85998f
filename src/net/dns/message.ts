// DNS messages for the cluster zone: a decoded query + ClusterDnsRecords' decision → the response packet,
// and the wire rules around it (FORMERR for what does not parse, the UDP size limit and the TC bit). Pure:
// no sockets here (server.ts), no upstreams (upstream.ts). The codec is dns-packet; only the header of a
// malformed message is read by hand, because a FORMERR must echo the id of a packet the codec refused.
import dnsPacket from 'dns-packet';
import type { Answer as WireRecord, DecodedPacket, Packet, Question } from 'dns-packet';
import {
  type Answer,
  type ClusterDnsRecords,
  type DnsRecord,
  type RecordType,
  RECORD_TTL,
} from './records.ts';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = keyof typeof RCODE;

/** RFC 1035: a UDP answer without EDNS fits 512 bytes. */
export const UDP_LIMIT = 512;
/** The most this server puts in one UDP datagram even when a client offers more (DNS flag day 2020). */
export const EDNS_LIMIT = 1232;
const HEADER_BYTES = 12;
const OPCODE_QUERY = 0;

/** A query the codec accepted, with what the server needs from it. */
export interface ParsedQuery {
  packet: DecodedPacket;
  question: Question;
  /** The client's EDNS OPT record, when it sent one (echoed, and it raises the UDP limit). */
  edns?: { udpPayloadSize: number };
}

/** Why a datagram gets no normal answer: dropped silently, or refused with an error code. */
export type Rejection = { drop: true } | { drop: false; response: Buffer };

/**
 * Decode one query. Anything the codec refuses, or a query that is not a single standard question, is
 * answered with FORMERR/NOTIMP carrying the client's id (as miekg/dns, CoreDNS's library, does); what
 * has no header at all, or is itself a response (never answer those: two servers could loop), is dropped.
 */
export function parseQuery(buf: Buffer): ParsedQuery | Rejection {
  if (buf.length < HEADER_BYTES) return { drop: true };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if (flags & 0x8000) return { drop: true };
  const rd = (flags & dnsPacket.RECURSION_DESIRED) !== 0;
  if (((flags >> 11) & 0xf) !== OPCODE_QUERY) return { drop: false, response: bareError(id, rd, 'NOTIMP') };
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(buf);
  } catch {
    return { drop: false, response: bareError(id, rd, 'FORMERR') };
  }
  const questions = packet.questions ?? [];
  if (questions.length !== 1 || (packet.answers?.length ?? 0) > 0)
    return { drop: false, response: bareError(id, rd, 'FORMERR') };
  const opt = packet.additionals?.find((r) => r.type === 'OPT');
  return {
    packet,
    question: questions[0],
    ...(opt ? { edns: { udpPayloadSize: opt.udpPayloadSize } } : {}),
  };
}

/** A header-only error response: no question (it did not parse), the client's id and RD bit. */
function bareError(id: number, rd: boolean, rcode: Rcode): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id,
    flags: (rd ? dnsPacket.RECURSION_DESIRED : 0) | RCODE[rcode],
    questions: [],
  });
}

/** The largest UDP answer this query may get: 512 bytes, or what its EDNS record offers (≤ 1232). */
export function udpLimit(q: ParsedQuery): number {
  return q.edns ? Math.min(Math.max(q.edns.udpPayloadSize, UDP_LIMIT), EDNS_LIMIT) : UDP_LIMIT;
}

/** The record types ClusterDnsRecords knows; anything else only asks "does the name exist". */
function recordType(type: string): RecordType | undefined {
  return (['A', 'AAAA', 'CNAME', 'SRV', 'PTR', 'TXT', 'ANY'] as const).find((t) => t === type);
}

/** A response to `q`: its id, RD bit and question echoed (0x20 case kept), RA set (we recurse). */
export function response(q: ParsedQuery, rcode: Rcode, extra: Partial<Packet> = {}, aa = false): Packet {
  return {
    type: 'response',
    id: q.packet.id,
    flags:
      (q.packet.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) |
      dnsPacket.RECURSION_AVAILABLE |
      (aa ? dnsPacket.AUTHORITATIVE_ANSWER : 0) |
      RCODE[rcode],
    questions: [q.question],
    answers: [],
    authorities: [],
    additionals: q.edns ? [optRecord()] : [],
    ...extra,
  };
}

function optRecord(): WireRecord {
  return {
    type: 'OPT',
    name: '.',
    udpPayloadSize: EDNS_LIMIT,
    extendedRcode: 0,
    ednsVersion: 0,
    flags: 0,
    flag_do: false,
    options: [],
  };
}

/**
 * The zone's SOA, put in the authority section of NXDOMAIN and NODATA answers so resolvers cache the
 * negative answer for its minimum (RFC 2308), as CoreDNS does; 5 s like the records themselves.
 */
export function soaRecord(zone: string, serial: number): WireRecord {
  return {
    type: 'SOA',
    name: zone,
    ttl: RECORD_TTL,
    data: {
      mname: `ns.dns.${zone}`,
      rname: `hostmaster.${zone}`,
      serial,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: RECORD_TTL,
    },
  };
}

/**
 * The authoritative response to a question inside the zone, or `forward` when the records say it is
 * not ours (a name outside the zone, a reverse name that is no cluster address).
 */
export function answerQuery(q: ParsedQuery, records: ClusterDnsRecords, serial: number): Packet | 'forward' {
  const { name, type } = q.question;
  if ((q.question.class ?? 'IN') !== 'IN') return 'forward';
  const asked = name.toLowerCase().replace(/\.$/, '');
  // The zone's own SOA: asked by resolvers finding the zone cut, and by people with dig.
  if (asked === records.zone && type === 'SOA')
    return response(q, 'NOERROR', { answers: [soaRecord(records.zone, serial)] }, true);
  // Unknown types still learn whether the name exists (NODATA vs NXDOMAIN): ask as for TXT, which the
  // records never hold.
  const answer: Answer = records.lookup(name, recordType(type) ?? 'TXT');
  if ('forward' in answer) return 'forward';
  if (answer.rcode === 'NXDOMAIN')
    return response(q, 'NXDOMAIN', { authorities: [soaRecord(records.zone, serial)] }, true);
  if (answer.answers.length === 0)
    return response(q, 'NOERROR', { authorities: [soaRecord(records.zone, serial)] }, true);
  return response(q, 'NOERROR', { answers: answer.answers.map((r) => wireRecord(r, name, asked)) }, true);
}

/** A record for the codec; the owner name as the client spelled it when it is the asked name. */
function wireRecord(r: DnsRecord, askedAs: string, asked: string): WireRecord {
  const name = r.name === asked ? askedAs : r.name;
  if (r.type === 'SRV') return { name, type: 'SRV', ttl: r.ttl, data: r.data };
  return { name, type: r.type, ttl: r.ttl, data: r.data };
}

/** The most a DNS message can be (over TCP, behind its 2-byte length). */
export const TCP_LIMIT = 65535;

/**
 * Encode a response in at most `limit` bytes. When it does not fit, keep the answers that do, drop the
 * authority and additional records (bar EDNS's OPT) and set TC so a capable client retries over TCP
 * (RFC 2181 §9, miekg/dns Truncate): musl's resolver never retries, so part of a headless Service
 * beats nothing.
 *
 * dns-packet does not compress names, so records are encoded one by one and an owner name equal to the
 * question's becomes a pointer to it (RFC 1035 §4.1.4): an A record of a Service shrinks from ~42 to
 * 16 bytes, and a 512-byte answer holds ~29 endpoints instead of ~11.
 */
export function encodeResponse(p: Packet, limit = TCP_LIMIT): Buffer {
  const head = dnsPacket.encode({ ...p, answers: [], authorities: [], additionals: [] });
  const qname = (p.questions?.length ?? 0) === 1 ? head.subarray(12, head.length - 4) : undefined;
  const encode = (records: readonly WireRecord[]): Buffer[] => records.map((r) => compressed(r, qname));
  const answers = encode(p.answers ?? []);
  const authorities = encode(p.authorities ?? []);
  const additionals = encode(p.additionals ?? []);
  const total = (bufs: Buffer[]) => bufs.reduce((n, b) => n + b.length, 0);
  if (head.length + total(answers) + total(authorities) + total(additionals) <= limit)
    return assemble(head, answers, authorities, additionals);
  const opt = encode((p.additionals ?? []).filter((r) => r.type === 'OPT'));
  let room = limit - head.length - total(opt);
  let kept = 0;
  while (kept < answers.length && answers[kept].length <= room) room -= answers[kept++].length;
  const truncated = assemble(head, answers.slice(0, kept), [], opt);
  truncated.writeUInt16BE(truncated.readUInt16BE(2) | dnsPacket.TRUNCATED_RESPONSE, 2);
  return truncated;
}

/** One record's wire bytes; its owner name a pointer to the question (offset 12) when they are equal. */
function compressed(r: WireRecord, qname: Buffer | undefined): Buffer {
  const bytes = dnsPacket.encode({ type: 'response', answers: [r] }).subarray(12);
  // Encoded names are self-delimiting (length-prefixed labels, a zero at the end): a byte prefix equal
  // to the whole encoded question name is that name, not a longer one.
  if (!qname || bytes.length < qname.length || !bytes.subarray(0, qname.length).equals(qname)) return bytes;
  return Buffer.concat([Buffer.from([0xc0, 0x0c]), bytes.subarray(qname.length)]);
}

function assemble(head: Buffer, answers: Buffer[], authorities: Buffer[], additionals: Buffer[]): Buffer {
  const out = Buffer.concat([head, ...answers, ...authorities, ...additionals]);
  out.writeUInt16BE(answers.length, 6);
  out.writeUInt16BE(authorities.length, 8);
  out.writeUInt16BE(additionals.length, 10);
  return out;
}

/** SERVFAIL, REFUSED, …: an answer-less response to a query that parsed. */
export function errorResponse(q: ParsedQuery, rcode: Rcode): Buffer {
  return encodeResponse(response(q, rcode));
}
