/**
 * `npm run bench:checkpoints`: what signed checkpoints cost (docs/proofs.md).
 *
 *   sign_us               one checkpoint: tree root from the frontier, text, Ed25519 signature (200 in a row)
 *   sign_in_journal_us    the same, averaged over the journal's checkpoints (colder)
 *   verify_signature_us   one checkpoint note verified with the public key
 *   events                journal length (default 10,000; a checkpoint every 1000)
 *   verify_chain_ms       the hash chain of that journal
 *   verify_checkpoints_ms every checkpoint (root, frontier, signature) and one witness holding them all
 *   prove_ms              one receipt of the first event (reads the journal up to its checkpoint)
 *
 *   node dist/bench/checkpoints.js [--events N] [--every N] [--json]
 */
import { parseArgs } from 'node:util';
import { bytesToHex } from '@noble/hashes/utils.js';
import { ed25519Verify, privateKeyFromSeed, signerOf } from '../src/events/adapters/checkpoint-key.js';
import { sealEnvelope, verifyChain } from '../src/events/chain.js';
import { journalOrigin, signCheckpoint, verifyCheckpoint } from '../src/events/checkpoint.js';
import { verifyCheckpoints } from '../src/events/checkpoint-verify.js';
import { GENESIS_HASH, HOST_SCOPE, type Envelope } from '../src/events/envelope.js';
import { eventLeafHash, MerkleBuilder } from '../src/events/merkle.js';
import { makeReceipt } from '../src/events/receipt.js';

const { values } = parseArgs({ options: { events: { type: 'string', default: '10000' }, every: { type: 'string', default: '1000' }, json: { type: 'boolean', default: false } } });
const total = Number(values.events);
const every = Number(values.every);
const host = 'bench-host';
const signer = signerOf(journalOrigin(host), privateKeyFromSeed(new Uint8Array(32).fill(42)));
const at = '2026-01-01T00:00:00.000Z';

// A journal: refused requests, a checkpoint after every `every` of them.
const envs: Envelope[] = [];
const builder = new MerkleBuilder();
const notes: string[] = [];
let signNs = 0n;
let signs = 0;
const push = (event: Parameters<typeof sealEnvelope>[0]) => {
  const prev = envs.at(-1);
  const env = sealEnvelope(event, { seq: envs.length + 1, prevHash: prev?.hash ?? GENESIS_HASH, id: `e${envs.length + 1}`, at, host });
  envs.push(env);
  builder.append(eventLeafHash(env.hash));
};
while (envs.length < total) {
  push({ event: { type: 'request.refused', data: { tenant: 't1', op: 'negotiate', reason: 'credential', detail: `attempt ${envs.length}` } }, scope: { ...HOST_SCOPE, tenant: 't1' }, causationId: `c${envs.length}`, correlationId: null });
  if (envs.length % every === 0 && envs.length < total) {
    const t0 = process.hrtime.bigint();
    const root = builder.root();
    const note = signCheckpoint({ origin: journalOrigin(host), size: envs.length, root, time: at }, signer);
    signNs += process.hrtime.bigint() - t0;
    signs++;
    notes.push(note);
    const data = { size: envs.length, root: bytesToHex(root), note, frontier: builder.frontier().nodes.map((h) => bytesToHex(h)) };
    push({ event: { type: 'journal.checkpoint', data }, scope: HOST_SCOPE, causationId: `c${envs.length}`, correlationId: null });
  }
}

const time = async <T>(f: () => Promise<T> | T): Promise<[T, number]> => {
  const t0 = performance.now();
  const r = await f();
  return [r, performance.now() - t0];
};
const [, signMs] = await time(() => {
  for (let i = 0; i < 200; i++) signCheckpoint({ origin: journalOrigin(host), size: builder.size, root: builder.root(), time: at }, signer);
});
const [, verifySigMs] = await time(() => {
  for (let i = 0; i < 200; i++) verifyCheckpoint(notes[0]!, signer, ed25519Verify);
});
const [chain, chainMs] = await time(() => verifyChain(envs));
const [report, cpMs] = await time(() => verifyCheckpoints(envs, { key: signer, witnesses: [{ url: 'bench', notes }], verify: ed25519Verify }));
const [receipt, proveMs] = await time(() => makeReceipt(envs, { seq: 1 }));
if (!chain.ok || !report.ok || !receipt.ok) throw new Error(`bench journal did not verify: ${JSON.stringify(report.problems)}`);
const out = {
  sign_us: (signMs * 1000) / 200,
  sign_in_journal_us: Number(signNs / BigInt(signs)) / 1000,
  verify_signature_us: (verifySigMs * 1000) / 200,
  events: envs.length,
  checkpoints: report.checkpoints,
  verify_chain_ms: Math.round(chainMs),
  verify_checkpoints_ms: Math.round(cpMs),
  prove_ms: Math.round(proveMs),
};
if (values.json) console.log(JSON.stringify(out));
else for (const [k, v] of Object.entries(out)) console.log(`${k.padEnd(22)} ${typeof v === 'number' ? +v.toFixed(1) : v}`);
