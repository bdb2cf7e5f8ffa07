import { readFileSync } from 'node:fs';
import { fc, test } from '@fast-check/vitest';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect } from 'vitest';
import {
  consistencyProof,
  emptyRoot,
  eventLeafHash,
  inclusionProof,
  leafHash,
  MerkleBuilder,
  nodeHash,
  treeHead,
  verifyConsistency,
  verifyInclusion,
} from '../../src/events/merkle.js';

interface Vectors {
  emptyRoot: string;
  leafHashes: { entry: string; hash: string }[];
  leaves: string[];
  roots: string[];
  inclusion: { index: number; size: number; proof: string[] }[];
  consistency: { m: number; n: number; proof: string[] }[];
}
const vectors = JSON.parse(readFileSync(new URL('./fixtures/merkle-vectors.json', import.meta.url), 'utf8')) as Vectors;
const hex = (b: Uint8Array) => bytesToHex(b);

/** `n` distinct leaf hashes (leaf i's entry is i as 4 bytes), deterministic. */
function leavesOf(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => leafHash(new Uint8Array([i >>> 24, (i >>> 16) & 255, (i >>> 8) & 255, i & 255])));
}

describe('Merkle tree: the vectors of transparency-dev/merkle (RFC 6962 / 9162)', () => {
  const leaves = vectors.leaves.map((e) => leafHash(hexToBytes(e)));

  test('the empty root and the leaf hashes', () => {
    expect(hex(emptyRoot())).toBe(vectors.emptyRoot);
    expect(hex(treeHead([]))).toBe(vectors.emptyRoot);
    for (const v of vectors.leafHashes) expect(hex(leafHash(hexToBytes(v.entry)))).toBe(v.hash);
  });

  test('the root of every prefix, by treeHead and by the builder', () => {
    const b = new MerkleBuilder();
    vectors.roots.forEach((root, i) => {
      expect(hex(treeHead(leaves, i + 1))).toBe(root);
      b.append(leaves[i]!);
      expect(hex(b.root())).toBe(root);
    });
  });

  test('inclusion proofs: generated equal to the vectors, and verify', () => {
    for (const v of vectors.inclusion) {
      expect(inclusionProof(leaves, v.index, v.size).map(hex)).toEqual(v.proof);
      const root = hexToBytes(vectors.roots[v.size - 1]!);
      expect(verifyInclusion(leaves[v.index]!, v.index, v.size, v.proof.map(hexToBytes), root)).toEqual({ ok: true });
    }
  });

  test('consistency proofs: generated equal to the vectors, and verify', () => {
    for (const v of vectors.consistency) {
      expect(consistencyProof(leaves, v.m, v.n).map(hex)).toEqual(v.proof);
      const rm = hexToBytes(vectors.roots[v.m - 1]!);
      const rn = hexToBytes(vectors.roots[v.n - 1]!);
      expect(verifyConsistency(v.m, v.n, rm, rn, v.proof.map(hexToBytes))).toEqual({ ok: true });
    }
  });

  test('an event leaf is the leaf hash of the 32 bytes of its hash; a malformed hash is refused', () => {
    const h = 'ab'.repeat(32);
    expect(hex(eventLeafHash(h))).toBe(hex(leafHash(hexToBytes(h))));
    expect(() => eventLeafHash('AB'.repeat(32))).toThrow(/hash/);
    expect(() => nodeHash(new Uint8Array(31), new Uint8Array(32))).toThrow(/32-byte/);
  });
});

const sizeAndIndex = fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 })));
const twoSizes = fc.integer({ min: 0, max: 300 }).chain((n) => fc.tuple(fc.integer({ min: 0, max: n }), fc.constant(n)));

/** A copy of `h` with one bit flipped. */
function flip(h: Uint8Array, bit: number): Uint8Array {
  const c = h.slice();
  c[(bit >> 3) % c.length]! ^= 1 << (bit & 7);
  return c;
}

/** A proof with one hash's bit flipped, one hash dropped, or `extra` appended. */
function tamperedProof(proof: readonly Uint8Array[], how: 'proof-bit' | 'proof-drop' | 'proof-extra', pick: number, bit: number, extra: Uint8Array): Uint8Array[] {
  if (how === 'proof-extra') return [...proof, extra];
  const at = pick % proof.length;
  return how === 'proof-bit' ? proof.map((p, k) => (k === at ? flip(p, bit) : p)) : proof.filter((_, k) => k !== at);
}

describe('Merkle tree: properties', () => {
  test.prop([fc.integer({ min: 0, max: 600 })])('the builder agrees with treeHead for any size, and resumes from its frontier', (n) => {
    const leaves = leavesOf(n);
    const b = new MerkleBuilder();
    for (const l of leaves) b.append(l);
    expect(hex(b.root())).toBe(hex(treeHead(leaves)));
    expect(b.frontier().nodes.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n + 1)));
    const cut = Math.floor(n / 2);
    const half = new MerkleBuilder();
    for (const l of leaves.slice(0, cut)) half.append(l);
    const resumed = MerkleBuilder.from(half.frontier());
    for (const l of leaves.slice(cut)) resumed.append(l);
    expect(hex(resumed.root())).toBe(hex(b.root()));
  });

  test.prop([sizeAndIndex])('an inclusion proof verifies for any leaf of any tree', ([n, i]) => {
    const leaves = leavesOf(n);
    const proof = inclusionProof(leaves, i, n);
    expect(verifyInclusion(leaves[i]!, i, n, proof, treeHead(leaves))).toEqual({ ok: true });
  });

  test.prop([sizeAndIndex, fc.nat(), fc.nat(), fc.constantFrom('leaf', 'index', 'root', 'proof-bit', 'proof-drop', 'proof-extra')])(
    'an inclusion proof fails for a wrong leaf, index, root or proof (the size is bound by the signed checkpoint, not the proof)',
    ([n, i], bit, pick, what) => {
      const leaves = leavesOf(n);
      const root = treeHead(leaves);
      let leaf = leaves[i]!;
      let index = i;
      const size = n;
      let r = root;
      let proof = inclusionProof(leaves, i, n);
      switch (what) {
        case 'leaf':
          leaf = flip(leaf, bit);
          break;
        case 'index':
          if (n === 1) return; // a tree of one leaf has no other index
          index = (i + 1 + (pick % (n - 1))) % n;
          break;
        case 'root':
          r = flip(root, bit);
          break;
        case 'proof-bit':
        case 'proof-drop':
        case 'proof-extra':
          if (what !== 'proof-extra' && proof.length === 0) return;
          proof = tamperedProof(proof, what, pick, bit, leaves[pick % n]!);
          break;
      }
      expect(verifyInclusion(leaf, index, size, proof, r).ok).toBe(false);
    },
  );

  test.prop([twoSizes])('a consistency proof verifies for any two sizes m <= n', ([m, n]) => {
    const leaves = leavesOf(n);
    const proof = consistencyProof(leaves, m, n);
    expect(verifyConsistency(m, n, treeHead(leaves, m), treeHead(leaves, n), proof)).toEqual({ ok: true });
  });

  test.prop([twoSizes, fc.nat(), fc.nat(), fc.constantFrom('rootM', 'rootN', 'proof-bit', 'proof-drop', 'proof-extra', 'other-tree')])(
    'a consistency proof fails when tampered',
    ([m, n], bit, pick, what) => {
      const leaves = leavesOf(n);
      let rm = treeHead(leaves, m);
      let rn = treeHead(leaves, n);
      let proof = consistencyProof(leaves, m, n);
      switch (what) {
        case 'rootM':
          rm = flip(rm, bit);
          break;
        case 'rootN':
          if (m === 0 && n > 0) return; // the empty tree is a prefix of every tree
          rn = flip(rn, bit);
          break;
        case 'proof-bit':
        case 'proof-drop':
        case 'proof-extra':
          if (what !== 'proof-extra' && proof.length === 0) return;
          proof = tamperedProof(proof, what, pick, bit, leafHash(new Uint8Array([pick & 255])));
          break;
        case 'other-tree': {
          // The same sizes, the newer tree with one leaf in the old part changed: not an extension.
          if (m === 0) return;
          const forged = leaves.slice();
          forged[pick % m] = flip(forged[pick % m]!, bit);
          rn = treeHead(forged, n);
          proof = consistencyProof(forged, m, n);
          break;
        }
      }
      expect(verifyConsistency(m, n, rm, rn, proof).ok).toBe(false);
    },
  );

  test('sizes out of range are refused', () => {
    const leaves = leavesOf(4);
    expect(() => inclusionProof(leaves, 4, 4)).toThrow(/index/);
    expect(() => consistencyProof(leaves, 5, 4)).toThrow(/m/);
    expect(verifyConsistency(3, 2, treeHead(leaves, 3), treeHead(leaves, 2), []).ok).toBe(false);
    expect(() => MerkleBuilder.from({ size: 3, nodes: [treeHead(leaves, 2)] })).toThrow(/frontier/);
  });
});
