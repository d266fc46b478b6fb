// Polling with back-off: how long to wait before the next refresh of a
// view.  Fast while something is moving (an instance building), slower
// when all is settled, doubling on errors up to a cap, and paused while
// the page is hidden.  The pure part (nextDelay) is unit-tested; Poller
// drives it with timers.

export interface PollPolicy {
  fastMs: number; // something is in transition
  slowMs: number; // all settled
  maxMs: number; // cap of the error back-off
}

export const DEFAULT_POLICY: PollPolicy = { fastMs: 1000, slowMs: 5000, maxMs: 60000 };

/** The delay before the next poll.  `errors` counts consecutive failures;
 * `idleRounds` counts consecutive settled, unchanged answers (the slow
 * interval stretches up to 3x while nothing changes). */
export function nextDelay(p: PollPolicy, busy: boolean, errors: number, idleRounds = 0): number {
  if (errors > 0) {
    const base = busy ? p.fastMs : p.slowMs;
    return Math.min(p.maxMs, base * 2 ** Math.min(errors, 16));
  }
  if (busy) return p.fastMs;
  return Math.min(p.maxMs, Math.round(p.slowMs * Math.min(3, 1 + idleRounds / 4)));
}

/** Runs `tick` again and again.  tick returns whether something is in
 * transition (poll fast); a throw counts as an error (back off).  The
 * poller pauses while the document is hidden and polls at once when it is
 * shown again or when poke() is called (after a user action). */
export class Poller {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private errors = 0;
  private idle = 0;
  private stopped = false;
  private running = false;
  private lastSig = "";
  private onVis = () => {
    if (!document.hidden) this.poke();
  };

  constructor(
    private tick: () => Promise<{ busy: boolean; sig?: string }>,
    private policy: PollPolicy = DEFAULT_POLICY,
  ) {
    document.addEventListener("visibilitychange", this.onVis);
    this.poke();
  }

  /** Poll now (and reset the idle stretch). */
  poke(): void {
    this.idle = 0;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    document.removeEventListener("visibilitychange", this.onVis);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), ms);
  }

  private async run(): Promise<void> {
    if (this.stopped || this.running) return;
    if (document.hidden) return; // resumes on visibilitychange
    this.running = true;
    let busy = false;
    try {
      const r = await this.tick();
      busy = r.busy;
      this.errors = 0;
      const sig = r.sig ?? "";
      this.idle = sig === this.lastSig ? this.idle + 1 : 0;
      this.lastSig = sig;
    } catch {
      this.errors++;
    } finally {
      this.running = false;
    }
    this.schedule(nextDelay(this.policy, busy, this.errors, this.idle));
  }
}
