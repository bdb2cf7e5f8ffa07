/**
 * Receipts and the test vectors of docs/proofs.md (test/events/fixtures/proof-vectors.json):
 * the journal of docs/events.md's examples, a key from a fixed seed, its checkpoint and a receipt.
 */
import { readFileSync } from 'node:fs';
import { fc, test } from '@fast-check/vitest';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect } from 'vitest';
import { ed25519Verify, privateKeyFromSeed, signerOf } from '../../src/events/adapters/checkpoint-key.js';
import { encodeCheckpoint, parseCheckpoint, signCheckpoint } from '../../src/events/checkpoint.js';
import { verifyCheckpoints } from '../../src/events/checkpoint-verify.js';
import type { Envelope } from '../../src/events/envelope.js';
import { eventLeafHash, treeHead } from '../../src/events/merkle.js';
import { checkReceipt, makeReceipt, parseReceipt, type Receipt } from '../../src/events/receipt.js';
import { encodeVerifierKey, parseVerifierKey } from '../../src/events/signed-note.js';

interface Vectors {
  seedHex: string;
  origin: string;
  publicKeyHex: string;
  verifierKey: string;
  leafHashes: string[];
  checkpointText: string;
  checkpointNote: string;
  rootHex: string;
  receipt: Receipt;
}
const vectors = JSON.parse(readFileSync(new URL('./fixtures/proof-vectors.json', import.meta.url), 'utf8')) as Vectors;
const doc = readFileSync(new URL('../../docs/events.md', import.meta.url), 'utf8');
const journal = [...doc.matchAll(/```jsonl\n(.*)\n```/g)].map((m) => JSON.parse(m[1]!) as Envelope).sort((a, b) => a.seq - b.seq);
const key = parseVerifierKey(vectors.verifierKey);

describe('docs/proofs.md test vectors', () => {
  test('the key of the fixed seed, its verifier key text', () => {
    const signer = signerOf(vectors.origin, privateKeyFromSeed(hexToBytes(vectors.seedHex)));
    expect(bytesToHex(signer.publicKey)).toBe(vectors.publicKeyHex);
    expect(encodeVerifierKey(signer)).toBe(vectors.verifierKey);
  });

  test("the leaves, root, checkpoint text and signed note of docs/events.md's journal", () => {
    const cp = journal.findLast((e) => e.type === 'journal.checkpoint')!;
    if (cp.type !== 'journal.checkpoint') throw new Error('no example is a checkpoint');
    const leaves = journal.slice(0, cp.data.size).map((e) => eventLeafHash(e.hash));
    expect(leaves.map((l) => bytesToHex(l))).toEqual(vectors.leafHashes);
    expect(bytesToHex(treeHead(leaves))).toBe(vectors.rootHex);
    expect(cp.data.root).toBe(vectors.rootHex);
    expect(cp.data.note).toBe(vectors.checkpointNote);
    const parsed = parseCheckpoint(vectors.checkpointText);
    expect(encodeCheckpoint(parsed)).toBe(vectors.checkpointText);
    // Ed25519 is deterministic: signing again gives the same note.
    const signer = signerOf(vectors.origin, privateKeyFromSeed(hexToBytes(vectors.seedHex)));
    expect(signCheckpoint(parsed, signer)).toBe(vectors.checkpointNote);
  });

  test('the journal verifies against its key; the receipt is what prove makes and it checks', async () => {
    expect(await verifyCheckpoints(journal, { key, witnesses: [{ url: 'vectors', notes: [vectors.checkpointNote] }], verify: ed25519Verify })).toMatchObject({ ok: true, checkpoints: 1, witnessed: 1 });
    const made = await makeReceipt(journal, { seq: vectors.receipt.envelope.seq });
    expect(made).toEqual({ ok: true, receipt: vectors.receipt });
    expect(checkReceipt(parseReceipt(JSON.stringify(vectors.receipt)), key, ed25519Verify)).toMatchObject({ ok: true, seq: vectors.receipt.envelope.seq, treeSize: 15 });
  });
});

describe('receipts', () => {
  test.prop([fc.integer({ min: 1, max: 15 })])('every covered event has a receipt that checks', async (seq) => {
    const made = await makeReceipt(journal, { seq });
    if (!made.ok) throw new Error(made.reason);
    expect(checkReceipt(made.receipt, key, ed25519Verify)).toMatchObject({ ok: true, seq });
    const byId = await makeReceipt(journal, { id: made.receipt.envelope.id });
    expect(byId).toEqual(made);
  });

  test('the checkpoint itself is not covered yet; an unknown event is not in the journal', async () => {
    expect(await makeReceipt(journal, { seq: 16 })).toMatchObject({ ok: false, reason: expect.stringMatching(/not covered by a checkpoint yet/) });
    expect(await makeReceipt(journal, { id: 'nope' })).toMatchObject({ ok: false, reason: expect.stringMatching(/not in the journal/) });
  });

  const tamper = fc.constantFrom('tenant', 'data', 'hash', 'leafIndex', 'inclusion', 'checkpoint-size', 'signature', 'key');
  test.prop([fc.integer({ min: 1, max: 15 }), tamper])('a receipt changed anywhere does not check', async (seq, what) => {
    const made = await makeReceipt(journal, { seq });
    if (!made.ok) throw new Error(made.reason);
    const r = made.receipt;
    let k = key;
    let forged: Receipt = r;
    switch (what) {
      case 'tenant':
        forged = { ...r, envelope: { ...r.envelope, tenant: r.envelope.tenant === 'x' ? 'y' : 'x' } as Envelope };
        break;
      case 'data':
        forged = { ...r, envelope: { ...r.envelope, data: { forged: true } } as unknown as Envelope };
        break;
      case 'hash':
        forged = { ...r, envelope: { ...r.envelope, hash: journal[seq % 15]!.hash } as Envelope };
        break;
      case 'leafIndex':
        forged = { ...r, leafIndex: r.leafIndex + 1 };
        break;
      case 'inclusion':
        forged = { ...r, inclusion: [...r.inclusion.slice(1), r.inclusion[0]!].reverse() };
        if (JSON.stringify(forged.inclusion) === JSON.stringify(r.inclusion)) forged = { ...r, inclusion: [...r.inclusion, r.inclusion[0]!] };
        break;
      case 'checkpoint-size':
        forged = { ...r, checkpoint: r.checkpoint.replace('\n15\n', '\n16\n') };
        break;
      case 'signature': {
        const i = r.checkpoint.lastIndexOf(' ') + 20;
        forged = { ...r, checkpoint: r.checkpoint.slice(0, i) + (r.checkpoint[i] === 'A' ? 'B' : 'A') + r.checkpoint.slice(i + 1) };
        break;
      }
      case 'key':
        k = { name: key.name, publicKey: signerOf(key.name, privateKeyFromSeed(new Uint8Array(32).fill(5))).publicKey };
        break;
    }
    expect(checkReceipt(forged, k, ed25519Verify).ok).toBe(false);
  });
});
