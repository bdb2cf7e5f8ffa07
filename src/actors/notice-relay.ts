/**
 * The notices of one instance's driver on their way to vFunD: every listener
 * gets each notice once, and notices sent before the first listener came
 * (vFunD registers it just after activation) are kept for it, not lost.
 */
import type { DriverNotice } from '../domain/types.js';

export class NoticeRelay {
  private readonly listeners: ((notice: DriverNotice) => void)[] = [];
  private held: DriverNotice[] = [];

  /** Pass a notice on (or hold it until there is a listener). */
  readonly send = (notice: DriverNotice): void => {
    if (this.listeners.length === 0) {
      this.held.push(notice);
      return;
    }
    for (const l of this.listeners) l(notice);
  };

  /** Add a listener; the first one gets the notices held so far. */
  readonly listen = (listener: (notice: DriverNotice) => void): void => {
    this.listeners.push(listener);
    const held = this.held;
    this.held = [];
    for (const n of held) listener(n);
  };
}
