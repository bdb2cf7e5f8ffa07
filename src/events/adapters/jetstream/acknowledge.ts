/**
 * Acknowledging a damaged message (docs/jetstream.md, "Damaged messages"):
 * what `vfun audit acknowledge` runs, with admin credentials. It reads the
 * journal from seq 1 with the verifying reader, checks that the message named
 * is the first unacknowledged damage (never a sound message, never one past
 * another damage), and publishes the acknowledgement: the message's SHA-256,
 * what is wrong with it, the chain before it, the reason and the user.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeys } from '@nats-io/transport-node';
import { readFile } from 'node:fs/promises';
import { VirtFunError } from '../../../errors.js';
import { ensureAckStream, loadAcknowledgements, publishAcknowledgement } from './acks.js';
import { connectError, credentialsOf } from './auth.js';
import { DamagedMessageError, type DamageAck } from './damage.js';
import { connectOptions, resolveOptions, type AuthSpec, type JetStreamJournalOptions } from './options.js';
import { readVerified } from './reader.js';

/** Who acknowledges: the user name, or the nkey's public key. */
async function whoAcknowledges(auth: AuthSpec): Promise<string> {
  switch (auth.kind) {
    case 'password':
    case 'passwordFile':
      return auth.user;
    case 'nkeySeedFile': {
      const seed = (await readFile(auth.file, 'utf8')).split('\n')[0]?.trim() ?? '';
      return nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey();
    }
    case 'none':
      return '(anonymous)';
  }
}

/**
 * Acknowledges damaged message `seq` of the journal `options` names, for
 * `reason`. Returns the record and where it was published. VirtFunError
 * ('CONFIG') when the message is sound, already acknowledged, or not the
 * first damage; a permission error when the credentials are not an admin's.
 */
export async function acknowledgeDamage(
  options: JetStreamJournalOptions,
  seq: number,
  reason: string,
  now: Date = new Date(),
): Promise<{ readonly ack: DamageAck; readonly ref: string }> {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new VirtFunError('VALIDATION', `seq: expected a positive integer, got ${seq}`);
  if (reason.trim() === '') throw new VirtFunError('VALIDATION', 'reason: say why the message is there');
  const o = resolveOptions({ ...options, readOnly: true });
  const credentials = await credentialsOf(o.auth);
  let nc;
  try {
    nc = await connect(connectOptions(o, credentials));
  } catch (err) {
    throw connectError(o, err);
  }
  try {
    const jsm = await jetstreamManager(nc, { timeout: Math.max(o.ackTimeoutMs, 5000) });
    const info = await jsm.streams.info(o.stream);
    if (seq > info.state.last_seq) throw new VirtFunError('CONFIG', `${o.url}: the stream ends at seq ${info.state.last_seq}; there is no message ${seq}`);
    const acks = await loadAcknowledgements(nc, jsm, o);
    const already = acks.get(seq);
    if (already !== undefined) throw new VirtFunError('CONFIG', `${o.url}: message ${seq} is already acknowledged (${already.ref}, by ${already.ack.by}: ${already.ack.reason})`);
    const source = { nc, jsm, stream: o.stream, url: o.url, closed: () => false, acks };
    let damage: DamagedMessageError | null = null;
    try {
      for await (const env of readVerified(source, 1, seq)) void env;
    } catch (err) {
      if (!(err instanceof DamagedMessageError)) throw err;
      damage = err;
    }
    if (damage === null) throw new VirtFunError('CONFIG', `${o.url}: message ${seq} is sound; there is nothing to acknowledge`);
    if (damage.seq !== seq) {
      throw new VirtFunError('CONFIG', `${o.url}: message ${damage.seq} is damaged before message ${seq} (${damage.fault}): acknowledge it first, if you know why it is there`);
    }
    if (damage.prevHash === null) throw new VirtFunError('CONFIG', `${o.url}: the chain before message ${seq} is unknown`);
    const ack: DamageAck = {
      v: 1,
      kind: 'damage-acknowledged',
      host: o.host,
      stream: o.stream,
      seq,
      sha256: damage.sha256,
      fault: damage.fault,
      prevHash: damage.prevHash,
      reason,
      by: await whoAcknowledges(o.auth),
      at: now.toISOString(),
    };
    await ensureAckStream(jsm, o.ackStream, o.replicas);
    const ref = await publishAcknowledgement(nc, o.ackStream, ack);
    return { ack, ref };
  } finally {
    await nc.close().catch(() => undefined);
  }
}
