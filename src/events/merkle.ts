/**
 * The journal's Merkle tree (docs/events.md, "Merkle tree and checkpoints"):
 * RFC 9162 §2.1 over SHA-256, the tree Certificate Transparency logs use.
 *
 * Leaf i of a journal's tree is the event with seq i + 1; its entry is the 32
 * raw bytes of that envelope's `hash` (the hex decoded), so the tree commits to
 * every field of every event exactly as the hash chain does. Hashes are domain
 * separated: a leaf hash is SHA-256(0x00 || entry), a node hash SHA-256(0x01 ||
 * left || right), and the root of the empty tree SHA-256 of nothing.
 *
 * Every hash at this API (leaf hashes, node hashes, roots, proof elements) is a
 * `Uint8Array` of 32 bytes; hex (or base64) is for text formats only. The
 * functions over a list of leaf hashes follow the RFC's recursive definitions
 * and cost O(n) hashes; `MerkleBuilder` keeps O(log n) state and gives the
 * root after each append in O(log n). Verification follows the RFC's
 * algorithms (§2.1.3.2, §2.1.4.2) step for step.
 *
 * Pure: no node:* imports, no I/O. Sizes and indices are safe integers (< 2^53).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { ValidationError } from '../errors.js';
import { isHash } from './chain.js';

/** Bytes of every hash in the tree. */
export const HASH_BYTES = 32;

/** Why a proof does not hold, or that it does. */
export type ProofCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const OK: ProofCheck = Object.freeze({ ok: true });
const fail = (reason: string): ProofCheck => ({ ok: false, reason });

/** The root of the empty tree: SHA-256 of the empty string (a fresh copy). */
export function emptyRoot(): Uint8Array {
  return sha256(new Uint8Array(0));
}

/** Leaf hash of an entry of any length: SHA-256(0x00 || entry). */
export function leafHash(entry: Uint8Array): Uint8Array {
  const input = new Uint8Array(entry.length + 1);
  input.set(entry, 1);
  return sha256(input);
}

/** Interior node hash: SHA-256(0x01 || left || right); both children are 32-byte hashes. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== HASH_BYTES || right.length !== HASH_BYTES) {
    throw new ValidationError('node', `children must be ${HASH_BYTES}-byte hashes (got ${left.length} and ${right.length} bytes)`);
  }
  const input = new Uint8Array(1 + 2 * HASH_BYTES);
  input[0] = 1;
  input.set(left, 1);
  input.set(right, 1 + HASH_BYTES);
  return sha256(input);
}

/** The leaf hash of a journal event, from its envelope's `hash` (64 lowercase hex digits). */
export function eventLeafHash(hash: string): Uint8Array {
  if (!isHash(hash)) throw new ValidationError('hash', 'expected 64 lowercase hex digits');
  return leafHash(hexToBytes(hash));
}

/** True when both are the same bytes. */
export function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const half = (x: number): number => Math.floor(x / 2);
const isOdd = (x: number): boolean => x % 2 === 1;
const isCount = (x: number): boolean => Number.isSafeInteger(x) && x >= 0;

/** The largest power of two smaller than n (n ≥ 2): where RFC 9162 splits a tree of n leaves. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

/** Checks that the first `size` leaf hashes exist and are hashes; `field` names the size. */
function checkLeaves(leafHashes: readonly Uint8Array[], size: number, field: string): void {
  if (!isCount(size)) throw new ValidationError(field, `expected a non-negative integer, got ${size}`);
  if (size > leafHashes.length) throw new ValidationError(field, `${size} is more than the ${leafHashes.length} leaves given`);
  for (let i = 0; i < size; i++) {
    const h = leafHashes[i] as Uint8Array;
    if (h.length !== HASH_BYTES) throw new ValidationError(`leafHashes[${i}]`, `expected ${HASH_BYTES} bytes, got ${h.length}`);
  }
}

/** MTH(D[lo:hi]) for hi - lo ≥ 1 (RFC 9162 §2.1.1). */
function subtreeRoot(leaves: readonly Uint8Array[], lo: number, hi: number): Uint8Array {
  if (hi - lo === 1) return leaves[lo] as Uint8Array;
  const k = splitPoint(hi - lo);
  return nodeHash(subtreeRoot(leaves, lo, lo + k), subtreeRoot(leaves, lo + k, hi));
}

/**
 * The Merkle Tree Hash of the first `size` leaves (RFC 9162 §2.1.1): the root
 * of the tree of that size. The empty tree's root is `emptyRoot()`.
 */
export function treeHead(leafHashes: readonly Uint8Array[], size: number = leafHashes.length): Uint8Array {
  checkLeaves(leafHashes, size, 'size');
  if (size === 0) return emptyRoot();
  return subtreeRoot(leafHashes, 0, size).slice();
}

/** PATH(m, D[lo:hi]) (RFC 9162 §2.1.3.1), appended to `out` leaf side first. */
function auditPath(leaves: readonly Uint8Array[], m: number, lo: number, hi: number, out: Uint8Array[]): void {
  if (hi - lo === 1) return;
  const k = splitPoint(hi - lo);
  if (m < k) {
    auditPath(leaves, m, lo, lo + k, out);
    out.push(subtreeRoot(leaves, lo + k, hi));
  } else {
    auditPath(leaves, m - k, lo + k, hi, out);
    out.push(subtreeRoot(leaves, lo, lo + k));
  }
}

/**
 * The inclusion proof (audit path, RFC 9162 §2.1.3.1) of leaf `index` (0-based)
 * in the tree of the first `size` leaves: the sibling hashes from the leaf up
 * to the root, leaf side first. Empty for a tree of one leaf.
 */
export function inclusionProof(leafHashes: readonly Uint8Array[], index: number, size: number = leafHashes.length): Uint8Array[] {
  checkLeaves(leafHashes, size, 'size');
  if (!isCount(index) || index >= size) throw new ValidationError('index', `expected an integer in [0, ${size}), got ${index}`);
  const out: Uint8Array[] = [];
  auditPath(leafHashes, index, 0, size, out);
  return out.map((h) => h.slice());
}

/**
 * Checks that `leaf` (a leaf hash) is leaf `index` of the tree of `size`
 * leaves whose root is `root`, with `proof` from `inclusionProof`: the
 * algorithm of RFC 9162 §2.1.3.2.
 */
export function verifyInclusion(leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): ProofCheck {
  if (!isCount(index) || !isCount(size)) return fail('index and size must be non-negative integers');
  if (index >= size) return fail(`index ${index} is not in a tree of ${size} leaves`);
  if (leaf.length !== HASH_BYTES || root.length !== HASH_BYTES) return fail(`the leaf hash and the root must be ${HASH_BYTES} bytes`);
  if (proof.some((p) => p.length !== HASH_BYTES)) return fail(`every proof element must be ${HASH_BYTES} bytes`);
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return fail('the proof is longer than the path to the root');
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) return fail('the proof is shorter than the path to the root');
  return sameHash(r, root) ? OK : fail('the proof leads to another root');
}

/** SUBPROOF(m, D[lo:hi], b) (RFC 9162 §2.1.4.1), appended to `out`. */
function subproof(leaves: readonly Uint8Array[], m: number, lo: number, hi: number, complete: boolean, out: Uint8Array[]): void {
  const n = hi - lo;
  if (m === n) {
    if (!complete) out.push(subtreeRoot(leaves, lo, hi));
    return;
  }
  const k = splitPoint(n);
  if (m <= k) {
    subproof(leaves, m, lo, lo + k, complete, out);
    out.push(subtreeRoot(leaves, lo + k, hi));
  } else {
    subproof(leaves, m - k, lo + k, hi, false, out);
    out.push(subtreeRoot(leaves, lo, lo + k));
  }
}

/**
 * The consistency proof (RFC 9162 §2.1.4.1) that the tree of the first `m`
 * leaves is a prefix of the tree of the first `n`: PROOF(m, D[n]). Empty when
 * m = 0 or m = n (nothing to prove).
 */
export function consistencyProof(leafHashes: readonly Uint8Array[], m: number, n: number = leafHashes.length): Uint8Array[] {
  checkLeaves(leafHashes, n, 'n');
  if (!isCount(m) || m > n) throw new ValidationError('m', `expected an integer in [0, ${n}], got ${m}`);
  if (m === 0 || m === n) return [];
  const out: Uint8Array[] = [];
  subproof(leafHashes, m, 0, n, true, out);
  return out.map((h) => h.slice());
}

/**
 * Checks that the tree of `m` leaves with root `rootM` is a prefix of the tree
 * of `n` leaves with root `rootN`, with `proof` from `consistencyProof`: the
 * algorithm of RFC 9162 §2.1.4.2 for 0 < m < n. The RFC leaves the other
 * sizes out; here m = n holds with an empty proof and equal roots, and m = 0
 * with an empty proof and `rootM` the empty tree's root. m > n never holds.
 */
export function verifyConsistency(m: number, n: number, rootM: Uint8Array, rootN: Uint8Array, proof: readonly Uint8Array[]): ProofCheck {
  if (!isCount(m) || !isCount(n)) return fail('sizes must be non-negative integers');
  if (m > n) return fail(`a tree of ${m} leaves cannot be a prefix of one of ${n}`);
  if (rootM.length !== HASH_BYTES || rootN.length !== HASH_BYTES) return fail(`roots must be ${HASH_BYTES} bytes`);
  if (proof.some((p) => p.length !== HASH_BYTES)) return fail(`every proof element must be ${HASH_BYTES} bytes`);
  if (m === 0 || m === n) {
    if (proof.length !== 0) return fail(`the proof between sizes ${m} and ${n} must be empty`);
    if (!sameHash(rootM, emptyRoot()) && m === 0) return fail('the root of size 0 is not the empty tree root');
    if (m === 0 && n !== 0) return OK;
    return sameHash(rootM, rootN) ? OK : fail('two roots of the same size differ');
  }
  if (proof.length === 0) return fail('the proof is empty');
  const path = isPowerOfTwo(m) ? [rootM, ...proof] : proof;
  let fn = m - 1;
  let sn = n - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0] as Uint8Array;
  let sr = fr;
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Uint8Array;
    if (sn === 0) return fail('the proof is longer than the path to the root');
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) return fail('the proof is shorter than the path to the root');
  if (!sameHash(fr, rootM)) return fail(`the proof does not lead to the root of size ${m}`);
  if (!sameHash(sr, rootN)) return fail(`the proof does not lead to the root of size ${n}`);
  return OK;
}

/**
 * The state of an append-only tree in O(log n): its size and the roots of its
 * maximal perfect subtrees, left (largest) to right (one per bit set in size).
 */
export interface Frontier {
  readonly size: number;
  readonly nodes: readonly Uint8Array[];
}

function bitCount(n: number): number {
  let c = 0;
  for (let x = n; x > 0; x = half(x)) if (isOdd(x)) c++;
  return c;
}

/**
 * Builds a tree one leaf at a time keeping only its frontier: an append costs
 * O(1) hashes amortized (at most log n), `root()` O(log n). Resume from a
 * saved frontier with `MerkleBuilder.from`.
 */
export class MerkleBuilder {
  #size = 0;
  #nodes: Uint8Array[] = [];

  /** A builder continuing the tree whose frontier is `frontier`. */
  static from(frontier: Frontier): MerkleBuilder {
    const { size, nodes } = frontier;
    if (!isCount(size)) throw new ValidationError('frontier.size', `expected a non-negative integer, got ${size}`);
    if (nodes.length !== bitCount(size)) {
      throw new ValidationError('frontier.nodes', `a tree of ${size} leaves has ${bitCount(size)} frontier nodes, got ${nodes.length}`);
    }
    nodes.forEach((h, i) => {
      if (h.length !== HASH_BYTES) throw new ValidationError(`frontier.nodes[${i}]`, `expected ${HASH_BYTES} bytes, got ${h.length}`);
    });
    const b = new MerkleBuilder();
    b.#size = size;
    b.#nodes = nodes.map((h) => h.slice());
    return b;
  }

  /** Leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /** Appends the next leaf (a leaf hash, e.g. `eventLeafHash(env.hash)`). */
  append(leaf: Uint8Array): void {
    if (leaf.length !== HASH_BYTES) throw new ValidationError('leaf', `expected ${HASH_BYTES} bytes, got ${leaf.length}`);
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw new ValidationError('size', 'the tree is full');
    let node: Uint8Array = leaf.slice();
    for (let s = this.#size; isOdd(s); s = half(s)) node = nodeHash(this.#nodes.pop() as Uint8Array, node);
    this.#nodes.push(node);
    this.#size++;
  }

  /** The root of the tree of every leaf appended so far (`treeHead` of them). */
  root(): Uint8Array {
    const nodes = this.#nodes;
    if (nodes.length === 0) return emptyRoot();
    let r = nodes[nodes.length - 1] as Uint8Array;
    for (let i = nodes.length - 2; i >= 0; i--) r = nodeHash(nodes[i] as Uint8Array, r);
    return r.slice();
  }

  /** A copy of the state, to resume from later. */
  frontier(): Frontier {
    return { size: this.#size, nodes: this.#nodes.map((h) => h.slice()) };
  }
}
