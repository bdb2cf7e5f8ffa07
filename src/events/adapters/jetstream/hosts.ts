/**
 * The hosts a JetStream journal holds (docs/jetstream.md, "Streams and
 * subjects"): every stream that captures exactly `vfun.evt.<host>.>` is the
 * control-event stream of `<host>`, whatever its name (`VFUN_EVT_<host>` by
 * default, `stream=` otherwise). For `vfun audit --host`.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { NAME_MAX, NAME_PATTERN } from '../../../util/names.js';
import { EVENT_SUBJECT_PREFIX } from './subjects.js';

/** A host's control-event stream. */
export interface HostStream {
  readonly host: string;
  readonly stream: string;
}

/** The host whose events a stream with these subjects holds, or null when it is no host's event stream (pure). */
export function hostOfSubjects(subjects: readonly string[] | undefined): string | null {
  if (subjects === undefined || subjects.length !== 1) return null;
  const prefix = `${EVENT_SUBJECT_PREFIX}.`;
  const s = subjects[0]!;
  if (!s.startsWith(prefix) || !s.endsWith('.>')) return null;
  const host = s.slice(prefix.length, -2);
  return host.length <= NAME_MAX && NAME_PATTERN.test(host) ? host : null;
}

/** Every host's event stream on the server, by host name. */
export async function listHostStreams(jsm: JetStreamManager): Promise<HostStream[]> {
  const out: HostStream[] = [];
  for await (const info of jsm.streams.list(`${EVENT_SUBJECT_PREFIX}.>`)) {
    const host = hostOfSubjects(info.config.subjects);
    if (host !== null) out.push({ host, stream: info.config.name });
  }
  return out.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}

/**
 * The streams a `--host` value selects: `*` every host, else the hosts named
 * (comma-separated). A named host without a stream is an empty journal, read
 * as such from its default stream name.
 */
export function selectHosts(all: readonly HostStream[], wanted: string, defaultStream: (host: string) => string): HostStream[] {
  if (wanted.trim() === '*') return [...all];
  const names = [...new Set(wanted.split(',').map((h) => h.trim()).filter((h) => h !== ''))];
  return names.map((host) => all.find((s) => s.host === host) ?? { host, stream: defaultStream(host) });
}
