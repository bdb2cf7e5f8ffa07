/**
 * Journal benchmark: the JetStream adapter against raw JetStream, same
 * messages, same run, against a nats-server this script starts itself
 * (file storage, temp store, free loopback port).
 *
 *   append_ack_p50_ms / p99     one control event per append(), awaited: encode,
 *                               hash check, publish with msg-id + expectations, ack
 *   append_pipelined_per_s      envelopes/s with many appends in flight (as the
 *                               recorder's group commit produces them)
 *   replay_per_s                envelopes/s read back by a freshly opened journal,
 *                               every message checked (canonical JSON, hash, chain):
 *                               what replay and audit verify read
 *   raw_js_replay_per_s         a plain ordered consumer on the same stream, no decoding,
 *                               runs interleaved with the checked ones (replay_vs_raw: ratio)
 *   trace_records_per_s         TraceSink.push() of N records + flush() until acked
 *   raw_js_*                    the same bytes on the same subjects with plain
 *                               js.publish (msg-id only)
 *
 *   node --import tsx bench/journal.ts [--json] [--events N] [--latency N] [--traces N]
 *
 * --json: one JSON object on stdout, progress on stderr.
 */
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { JetStreamJournal, eventSubject } from '../src/events/adapters/jetstream/index.js';
import { encodeEnvelope } from '../src/events/canonical.js';
import { sealEnvelope } from '../src/events/chain.js';
import { GENESIS_HASH, type Envelope, type PendingEvent } from '../src/events/envelope.js';
import { natsServerBinary, startNatsServer } from '../test/support/nats-server.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    events: { type: 'string', default: '100000' },
    latency: { type: 'string', default: '5000' },
    traces: { type: 'string', default: '2000000' },
  },
});
const EVENTS = Number(values.events);
const LATENCY_SAMPLES = Number(values.latency);
const TRACE_RECORDS = Number(values.traces);
const log = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};

function pendingEvent(n: number): PendingEvent {
  const tenant = `t${n % 4}`;
  return {
    event: {
      type: 'negotiation.acked',
      data: { tenant, app: 'shop', fn: n % 2 === 0 ? 'crc32' : 'sha256', kind: 'hw', instance: `i-${n}`, fallback: false },
    },
    scope: { tenant, app: 'shop', fn: n % 2 === 0 ? 'crc32' : 'sha256', instance: `i-${n}` },
    causationId: `cmd-${n}`,
    correlationId: `i-${n}`,
  } as PendingEvent;
}

function sealChain(count: number, host: string, after: Envelope | null = null): Envelope[] {
  const out: Envelope[] = [];
  let prev = after;
  const t0 = Date.UTC(2026, 0, 1);
  for (let i = 0; i < count; i++) {
    const seq = prev === null ? 1 : prev.seq + 1;
    const env = sealEnvelope(pendingEvent(seq), {
      seq,
      prevHash: prev === null ? GENESIS_HASH : prev.hash,
      id: `${host}-${seq}`,
      at: new Date(t0 + seq).toISOString(),
      host,
    });
    out.push(env);
    prev = env;
  }
  return out;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

async function main(): Promise<void> {
  natsServerBinary();
  const server = await startNatsServer();
  log(`nats-server at ${server.url} (store ${server.storeDir})`);
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const result: Record<string, number | string> = {};
  try {
    // ---- control append latency: one event per append, awaited ----
    {
      const host = 'lat';
      const journal = await JetStreamJournal.open({ servers: server.url, host });
      const warm = 500;
      const envs = sealChain(warm + LATENCY_SAMPLES, host);
      const samples: number[] = [];
      for (let i = 0; i < envs.length; i++) {
        const t = performance.now();
        await journal.append([envs[i] as Envelope]);
        if (i >= warm) samples.push(performance.now() - t);
      }
      await journal.close();
      samples.sort((a, b) => a - b);
      result['append_ack_p50_ms'] = round(percentile(samples, 50));
      result['append_ack_p99_ms'] = round(percentile(samples, 99));
      log(`append latency: p50 ${result['append_ack_p50_ms']} ms, p99 ${result['append_ack_p99_ms']} ms (${LATENCY_SAMPLES} samples)`);

      // raw: the same bytes on the same subjects, msg-id only, awaited one by one
      await jsm.streams.add({ name: 'RAW_LAT', subjects: ['raw.lat.>'] });
      const raw: number[] = [];
      for (let i = 0; i < envs.length; i++) {
        const env = envs[i] as Envelope;
        const data = encodeEnvelope(env).canonical;
        const subject = 'raw.lat.' + eventSubject(host, env).slice('vfun.evt.'.length);
        const t = performance.now();
        await js.publish(subject, data, { msgID: env.id });
        if (i >= warm) raw.push(performance.now() - t);
      }
      raw.sort((a, b) => a - b);
      result['raw_js_ack_p50_ms'] = round(percentile(raw, 50));
      result['raw_js_ack_p99_ms'] = round(percentile(raw, 99));
      log(`raw js.publish latency: p50 ${result['raw_js_ack_p50_ms']} ms, p99 ${result['raw_js_ack_p99_ms']} ms`);
    }

    // ---- pipelined appends ----
    const host = 'bulk';
    log(`sealing ${EVENTS} envelopes…`);
    const envs = sealChain(EVENTS, host);
    const encoded = envs.map((e) => ({ subject: eventSubject(host, e), data: new TextEncoder().encode(encodeEnvelope(e).canonical), id: e.id }));
    {
      const journal = await JetStreamJournal.open({ servers: server.url, host });
      const perAppend = 50;
      const maxOutstanding = 64;
      const t = performance.now();
      const outstanding = new Set<Promise<void>>();
      for (let i = 0; i < envs.length; i += perAppend) {
        const p = journal.append(envs.slice(i, i + perAppend));
        outstanding.add(p);
        void p.finally(() => outstanding.delete(p));
        if (outstanding.size >= maxOutstanding) await Promise.race(outstanding);
      }
      await Promise.all(outstanding);
      const dt = (performance.now() - t) / 1000;
      await journal.close();
      result['append_pipelined_per_s'] = Math.round(envs.length / dt);
      log(`pipelined append: ${result['append_pipelined_per_s']} envelopes/s`);
    }
    {
      await jsm.streams.add({ name: 'RAW_BULK', subjects: ['raw.bulk.>'] });
      const window = 4096;
      const t = performance.now();
      const outstanding: Promise<unknown>[] = [];
      for (const m of encoded) {
        outstanding.push(js.publish('raw.bulk.' + m.subject.slice('vfun.evt.'.length), m.data, { msgID: m.id }));
        if (outstanding.length >= window) await Promise.all(outstanding.splice(0));
      }
      await Promise.all(outstanding);
      const dt = (performance.now() - t) / 1000;
      result['raw_js_publish_per_s'] = Math.round(encoded.length / dt);
      log(`raw js.publish pipelined: ${result['raw_js_publish_per_s']} msgs/s`);
    }

    // ---- replay: the adapter's checked read and a plain ordered consumer, same stream, runs interleaved ----
    {
      const journal = await JetStreamJournal.open({ servers: server.url, host, readOnly: true });
      let best = 0;
      let bestRaw = 0;
      for (let run = 0; run < 3; run++) {
        let t = performance.now();
        let n = 0;
        for await (const env of journal.read()) {
          if (env.seq !== ++n) throw new Error(`replay out of order at ${n}`);
        }
        let dt = (performance.now() - t) / 1000;
        if (n !== EVENTS) throw new Error(`replayed ${n} of ${EVENTS}`);
        best = Math.max(best, n / dt);

        t = performance.now();
        const consumer = await js.consumers.get(journal.stream, { deliver_policy: DeliverPolicy.All });
        const messages = await consumer.consume({ max_messages: 4096 });
        n = 0;
        for await (const m of messages) {
          n++;
          if (m.seq >= EVENTS) break;
        }
        dt = (performance.now() - t) / 1000;
        bestRaw = Math.max(bestRaw, n / dt);
      }
      await journal.close();
      result['replay_per_s'] = Math.round(best);
      result['raw_js_replay_per_s'] = Math.round(bestRaw);
      result['replay_vs_raw'] = round(best / bestRaw, 2);
      log(`replay (checked): ${result['replay_per_s']} envelopes/s; raw ordered consumer on the same stream (no decoding): ${result['raw_js_replay_per_s']} msgs/s (best of 3 each, interleaved)`);
    }

    // ---- traces ----
    {
      const journal = await JetStreamJournal.open({ servers: server.url, host: 'traces' });
      const sink = journal.traces;
      const fns = ['crc32', 'sha256', 'matmul', 'fact'];
      let best = 0;
      let pushNs = 0;
      for (let run = 0; run < 3; run++) {
        const before = sink.stats;
        const t = performance.now();
        let pushing = 0;
        for (let i = 0; i < TRACE_RECORDS; i += 4096) {
          const p0 = performance.now();
          const stop = Math.min(TRACE_RECORDS, i + 4096);
          for (let k = i; k < stop; k++) {
            sink.push({ tenant: 't1', app: 'shop', fn: fns[k & 3] as string, instance: 'i-1', call: k, ns: 1200 + (k & 255), ok: true });
          }
          pushing += performance.now() - p0;
          // Let the event loop turn now and then, as a real call path does.
          if ((i & 0xffff) === 0) await new Promise((r) => setImmediate(r));
        }
        await sink.flush();
        const dt = (performance.now() - t) / 1000;
        const after = sink.stats;
        if (after.published - before.published !== TRACE_RECORDS) {
          throw new Error(`traces: ${after.published - before.published} of ${TRACE_RECORDS} published (${after.dropped} dropped)`);
        }
        if (TRACE_RECORDS / dt > best) {
          best = TRACE_RECORDS / dt;
          pushNs = (pushing * 1e6) / TRACE_RECORDS;
        }
        result['trace_batches'] = after.batches - before.batches;
      }
      await journal.close();
      result['trace_records_per_s'] = Math.round(best);
      result['trace_push_ns'] = round(pushNs, 1);
      log(`traces: ${result['trace_records_per_s']} records/s end to end (best of 3; ${result['trace_batches']} messages per run), push() ${result['trace_push_ns']} ns/record`);
    }
    result['events'] = EVENTS;
    result['envelope_bytes'] = Math.round(encoded.reduce((s, m) => s + m.data.length, 0) / encoded.length);
    result['cpus'] = cpus().length;
  } finally {
    await nc.close();
    await server.stop();
  }

  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const rows: [string, string, string][] = [
    ['control append ack p50', `${result['append_ack_p50_ms']} ms`, `raw js.publish ${result['raw_js_ack_p50_ms']} ms`],
    ['control append ack p99', `${result['append_ack_p99_ms']} ms`, `raw js.publish ${result['raw_js_ack_p99_ms']} ms`],
    ['pipelined appends', `${result['append_pipelined_per_s']} /s`, `raw js.publish ${result['raw_js_publish_per_s']} /s`],
    ['replay (checked)', `${result['replay_per_s']} /s`, `raw ordered consumer ${result['raw_js_replay_per_s']} /s, ratio ${result['replay_vs_raw']}`],
    ['trace ingest', `${result['trace_records_per_s']} records/s`, `${result['trace_batches']} messages, push ${result['trace_push_ns']} ns`],
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  process.stdout.write(`JetStream journal, ${result['events']} events of ~${result['envelope_bytes']} B, ${result['cpus']} CPUs\n`);
  for (const [a, b, c] of rows) process.stdout.write(`  ${a.padEnd(w0)}  ${b.padStart(w1)}   (${c})\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
