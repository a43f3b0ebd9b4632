// The part of dns-packet (5.x) that berth uses, as it behaves: decode() gives every section and
// the rcode as text, and takes any record type name, ANY included.
declare module 'dns-packet' {
  export interface Question {
    type: string;
    name: string;
    class?: string;
  }

  export interface Answer {
    type: string;
    name: string;
    ttl?: number;
    class?: string;
    /** An address for A and AAAA, a name for PTR. */
    data?: unknown;
    /** OPT (EDNS) only. */
    udpPayloadSize?: number;
    flags?: number;
    options?: unknown[];
  }

  export interface Packet {
    type?: 'query' | 'response';
    id?: number;
    flags?: number;
    questions?: Question[];
    answers?: Answer[];
    authorities?: Answer[];
    additionals?: Answer[];
  }

  export interface DecodedPacket {
    type: 'query' | 'response';
    id: number;
    flags: number;
    opcode: string;
    rcode: string;
    flag_aa: boolean;
    flag_tc: boolean;
    flag_rd: boolean;
    flag_ra: boolean;
    questions: Question[];
    answers: Answer[];
    authorities: Answer[];
    additionals: Answer[];
  }

  export function encode(packet: Packet): Buffer;
  export function decode(buf: Buffer): DecodedPacket;
  /** With the 2-byte length that DNS over TCP puts before a message. */
  export function streamEncode(packet: Packet): Buffer;

  export const AUTHORITATIVE_ANSWER: number;
  export const TRUNCATED_RESPONSE: number;
  export const RECURSION_DESIRED: number;
  export const RECURSION_AVAILABLE: number;
}
