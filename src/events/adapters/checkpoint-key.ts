/**
 * vFunD's checkpoint key: the Ed25519 key that signs its journal's checkpoints
 * (docs/proofs.md). The private key lives in `<root>/admin/checkpoint.key`
 * (PKCS#8 PEM, mode 0600), created at first start; the public key is written
 * next to it as `<root>/admin/checkpoint.pub`, the verifier key text of
 * signed-note.ts (`<origin>+<key ID>+<base64>`), which auditors and tenants
 * give to `vfun audit verify --pubkey` and `vfun audit check-proof --pubkey`.
 *
 * The node:crypto side of signed-note.ts's injected Ed25519 primitive too.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointKeyError, messageOf } from '../../errors.js';
import { encodeVerifierKey, parseVerifierKey, type Ed25519Verify, type NoteSigner, type NoteVerifier } from '../signed-note.js';

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): then the 32-byte key. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** DER prefix of an Ed25519 PKCS#8 private key (RFC 8410): then the 32-byte seed. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Ed25519 verification with node:crypto (the `Ed25519Verify` of signed-note.ts). */
export const ed25519Verify: Ed25519Verify = (publicKey, message, signature) => {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
};

/** The raw 32-byte public key of an Ed25519 key object. */
function rawPublicKey(key: KeyObject): Uint8Array {
  const der = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

/** A note signer named `name` over an Ed25519 private key object. */
export function signerOf(name: string, privateKey: KeyObject): NoteSigner {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new CheckpointKeyError(name, `expected an Ed25519 key, got ${privateKey.asymmetricKeyType ?? 'a symmetric key'}`);
  const publicKey = rawPublicKey(privateKey);
  return { name, publicKey, sign: (message) => new Uint8Array(sign(null, message, privateKey)) };
}

/** The Ed25519 key whose RFC 8032 seed (private key) is `seed`, 32 bytes: for test vectors. */
export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new CheckpointKeyError('seed', `expected 32 bytes, got ${seed.length}`);
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** Where vFunD keeps its checkpoint key under a data root. */
export function checkpointKeyPaths(root: string): { readonly privateKey: string; readonly publicKey: string } {
  return { privateKey: join(root, 'admin', 'checkpoint.key'), publicKey: join(root, 'admin', 'checkpoint.pub') };
}

/** vFunD's checkpoint key as loaded: the signer and its verifier key text. */
export interface CheckpointKey {
  readonly signer: NoteSigner;
  /** The verifier key text (also the content of checkpoint.pub, without its newline). */
  readonly verifierKey: string;
  /** True when this call created the key. */
  readonly created: boolean;
}

/**
 * Loads vFunD's key from `<root>/admin/checkpoint.key`, or creates it there
 * (0600, exclusively) at first start, and (re)writes `checkpoint.pub`. The key
 * name is `origin` (the checkpoint origin). CheckpointKeyError, naming the
 * path, when the private key is readable by its group or others, or is not an
 * Ed25519 PKCS#8 PEM key.
 */
export async function loadOrCreateCheckpointKey(root: string, origin: string): Promise<CheckpointKey> {
  const paths = checkpointKeyPaths(root);
  await mkdir(join(root, 'admin'), { recursive: true, mode: 0o700 });
  let created = false;
  let pem: string;
  try {
    pem = await readPrivate(paths.privateKey);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const { privateKey } = generateKeyPairSync('ed25519');
    pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    created = await writeExclusive(paths.privateKey, pem);
    if (!created) pem = await readPrivate(paths.privateKey); // another vFunD made it first
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new CheckpointKeyError(paths.privateKey, `not a PEM private key: ${messageOf(err)}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new CheckpointKeyError(paths.privateKey, `expected an Ed25519 key, got ${key.asymmetricKeyType ?? 'another kind'}`);
  const signer = signerOf(origin, key);
  const verifierKey = encodeVerifierKey(signer);
  await writePublic(paths.publicKey, `${verifierKey}\n`);
  return { signer, verifierKey, created };
}

async function readPrivate(path: string): Promise<string> {
  const st = await stat(path);
  if ((st.mode & 0o077) !== 0) {
    throw new CheckpointKeyError(
      path,
      `the checkpoint private key is readable by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); it must be 0600: chmod 600 it if it was not exposed, else remove it (a new key is made at the next start) and publish the new checkpoint.pub`,
    );
  }
  return readFile(path, 'utf8');
}

/** Creates `path` with `text`, mode 0600; false when it already exists. */
async function writeExclusive(path: string, text: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return true;
}

/** Writes the public key file (0644) unless it already holds `text`. */
async function writePublic(path: string, text: string): Promise<void> {
  const current = await readFile(path, 'utf8').catch(() => null);
  if (current === text) return;
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  await chmod(tmp, 0o644);
  await rename(tmp, path);
}

/** Reads a verifier key file (`checkpoint.pub`, or any file holding one verifier key line). */
export async function readVerifierKeyFile(path: string): Promise<NoteVerifier> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CheckpointKeyError(path, `cannot read the public key: ${messageOf(err)}`);
  }
  try {
    return parseVerifierKey(text.trim());
  } catch (err) {
    throw new CheckpointKeyError(path, messageOf(err));
  }
}
