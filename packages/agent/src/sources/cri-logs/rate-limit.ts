// An optional per-container limit on lines per second (a token bucket holding one second of lines), so that one
// runaway container cannot crowd out the others. What it drops is counted (lines_dropped_total{reason=rate_limit});
// dropped lines still take their line numbers, so numbering stays the same when the file is read again.
export class LineRateLimit {
  private tokens: number;
  private last: number;

  constructor(
    private readonly linesPerSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = linesPerSecond;
    this.last = now();
  }

  take(): boolean {
    if (this.tokens >= 1) {
      this.tokens--;
      return true;
    }
    const now = this.now();
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.linesPerSecond, this.tokens + (elapsed * this.linesPerSecond) / 1000);
      this.last = now;
    }
    if (this.tokens >= 1) {
      this.tokens--;
      return true;
    }
    return false;
  }
}
