import { mkdtempSync, readFileSync, rmSync, statSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { CheckpointKeyError } from '../../src/errors.js';
import { encodeCheckpoint, journalOrigin, parseCheckpoint, signCheckpoint, verifyCheckpoint, type Checkpoint } from '../../src/events/checkpoint.js';
import { checkpointKeyPaths, ed25519Verify, loadOrCreateCheckpointKey, privateKeyFromSeed, readVerifierKeyFile, signerOf } from '../../src/events/adapters/checkpoint-key.js';
import { emptyRoot } from '../../src/events/merkle.js';
import { encodeVerifierKey, keyId, openNote, parseVerifierKey, signNote } from '../../src/events/signed-note.js';

const seed = new Uint8Array(32).map((_, i) => i);
const origin = journalOrigin('host-a');
const signer = signerOf(origin, privateKeyFromSeed(seed));
const cp: Checkpoint = { origin, size: 3, root: emptyRoot(), time: '2026-01-01T00:00:00.000Z' };

describe('signed notes and checkpoints', () => {
  test('RFC 8032 test 1: the seed of zeros.. gives the known public key; node:crypto verifies its signature', () => {
    // RFC 8032 §7.1 TEST 1.
    const rfc = signerOf('k', privateKeyFromSeed(Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex')));
    expect(Buffer.from(rfc.publicKey).toString('hex')).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const sig = rfc.sign(new Uint8Array(0));
    expect(Buffer.from(sig).toString('hex')).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    expect(ed25519Verify(rfc.publicKey, new Uint8Array(0), sig)).toBe(true);
    expect(ed25519Verify(rfc.publicKey, new Uint8Array([1]), sig)).toBe(false);
  });

  test('a checkpoint encodes to four lines and parses back', () => {
    const text = encodeCheckpoint(cp);
    expect(text).toBe(`host-a/vfund\n3\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\ntime 2026-01-01T00:00:00.000Z\n`);
    expect(parseCheckpoint(text)).toEqual(cp);
    expect(() => parseCheckpoint(text.replace('\n3\n', '\n03\n'))).toThrow(/size/);
    expect(() => parseCheckpoint(`${text}extra\n`)).toThrow(/four lines/);
  });

  test('a signed checkpoint verifies with the log key, not with another key or once changed', () => {
    const note = signCheckpoint(cp, signer);
    expect(verifyCheckpoint(note, signer, ed25519Verify)).toEqual({ ok: true, checkpoint: cp });
    const other = signerOf(origin, privateKeyFromSeed(new Uint8Array(32).fill(7)));
    expect(verifyCheckpoint(note, other, ed25519Verify)).toMatchObject({ ok: false, reason: 'no signature by a trusted key' });
    expect(verifyCheckpoint(note.replace('\n3\n', '\n4\n'), signer, ed25519Verify)).toMatchObject({ ok: false, reason: expect.stringMatching(/does not verify/) });
    // A cosignature by another key is ignored; the log's own still has to hold.
    const cosigned = signNote(encodeCheckpoint(cp), [signer, signerOf('witness', privateKeyFromSeed(new Uint8Array(32).fill(9)))]);
    expect(openNote(cosigned, [signer], ed25519Verify)).toMatchObject({ ok: true });
  });

  test('a verifier key text round-trips and its key ID is checked', () => {
    const text = encodeVerifierKey(signer);
    expect(text.startsWith(`${origin}+${keyId(origin, signer.publicKey).toString(16).padStart(8, '0')}+`)).toBe(true);
    expect(parseVerifierKey(text)).toEqual({ name: origin, publicKey: signer.publicKey });
    expect(() => parseVerifierKey(text.replace('host-a', 'host-b'))).toThrow(/key ID/);
  });
});

describe('the checkpoint key on disk', () => {
  const root = mkdtempSync(join(tmpdir(), 'vfun-ckey-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test('created 0600 at first start, loaded the same after; checkpoint.pub holds the verifier key', async () => {
    const a = await loadOrCreateCheckpointKey(root, origin);
    expect(a.created).toBe(true);
    const paths = checkpointKeyPaths(root);
    expect(statSync(paths.privateKey).mode & 0o777).toBe(0o600);
    expect(readFileSync(paths.publicKey, 'utf8')).toBe(`${a.verifierKey}\n`);
    const b = await loadOrCreateCheckpointKey(root, origin);
    expect(b.created).toBe(false);
    expect(b.verifierKey).toBe(a.verifierKey);
    expect(await readVerifierKeyFile(paths.publicKey)).toEqual({ name: origin, publicKey: a.signer.publicKey });
  });

  test('a group- or world-readable private key is refused, naming the path and mode', async () => {
    const { privateKey } = checkpointKeyPaths(root);
    chmodSync(privateKey, 0o640);
    const err = await loadOrCreateCheckpointKey(root, origin).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointKeyError);
    expect((err as Error).message).toContain(privateKey);
    expect((err as Error).message).toContain('0640');
    chmodSync(privateKey, 0o600);
  });
});
