/**
 * What the client of a channel throws besides ValidationError: the service's
 * ERROR answer (ServiceError) and the words that describe a request and a
 * state in messages. Shared by the synchronous and the async calls.
 */
import { VirtFunError } from '../errors.js';
import { ERROR_NAMES, Status, wordLow4, wordSeq } from './layout.js';

/** The service answered ERROR. `errorCode`/`errorName` say why (layout.ts ErrorCode). */
export class ServiceError extends VirtFunError {
  override readonly name = 'ServiceError';
  readonly errorCode: number;
  readonly errorName: string;
  readonly seq: number;
  /** The service's own message (UTF-8 from the datain payload). */
  readonly serviceMessage: string;
  constructor(errorCode: number, seq: number, serviceMessage: string) {
    const errorName = ERROR_NAMES[errorCode] ?? `UNKNOWN_${errorCode}`;
    super('SERVICE_ERROR', `${errorName} (seq ${seq})${serviceMessage ? `: ${serviceMessage}` : ''}`);
    this.errorCode = errorCode;
    this.errorName = errorName;
    this.seq = seq;
    this.serviceMessage = serviceMessage;
  }
}

/** The request commands by their number (layout.ts Command), in messages. */
export const COMMAND_NAMES: Readonly<Record<number, string>> = { 1: 'set', 2: 'get', 3: 'rst' };
/** Decodes a service's error message (UTF-8, lenient). */
export const decoder = new TextDecoder('utf-8', { fatal: false });

/** "seq N NAME" for a state word, in messages. */
export function describeState(word: number): string {
  const st = wordLow4(word);
  const name = Object.entries(Status).find(([, v]) => v === st)?.[0] ?? `status ${st}`;
  return `seq ${wordSeq(word)} ${name}`;
}
