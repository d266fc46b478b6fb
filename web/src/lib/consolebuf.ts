// Following an instance's serial console: GET
// /v1/instances/{id}/console?offset=N answers the bytes from N and the
// offset to ask for next (X-Console-Offset).  ConsoleBuffer keeps what was
// read, capped, and tells whether a chunk continues where the last ended.
// Pure (unit-tested).

export class ConsoleBuffer {
  text = "";
  offset: number; // the next offset to ask for
  dropped = 0; // characters dropped from the front to stay under the cap
  constructor(
    public cap = 256 * 1024,
    start = -64 * 1024, // negative: from that far back from the end
  ) {
    this.offset = start;
  }

  /** Adds a chunk read at `askedOffset` whose answer said `next`.  When the
   * next offset went backwards (the console was reset by a new VM) the
   * buffer starts again. */
  push(chunk: string, next: number | null): void {
    if (next !== null && this.offset >= 0 && next < this.offset) {
      this.text = "";
      this.dropped = 0;
    }
    this.text += stripAnsi(chunk);
    if (this.text.length > this.cap) {
      const cut = this.text.length - this.cap;
      const nl = this.text.indexOf("\n", cut);
      const at = nl >= 0 && nl - cut < 4096 ? nl + 1 : cut;
      this.dropped += at;
      this.text = this.text.slice(at);
    }
    if (next !== null && Number.isFinite(next)) this.offset = next;
  }

  contains(marker: string): boolean {
    return this.text.includes(marker);
  }
}

/** Removes terminal escape sequences (colours, cursor moves) and carriage
 * returns that a serial console carries. */
export function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\x1b[()][A-Za-z0-9]/g, "").replace(/\r(?!\n)/g, "").replace(/\r\n/g, "\n");
}
