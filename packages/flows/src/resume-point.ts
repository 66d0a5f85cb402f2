// Where a Hubble stream resumes: the time of the newest flow taken, and the UUIDs of the flows taken at exactly that
// time. GetFlows `since` is inclusive, so after a reconnect the flows at that instant come again; those already
// taken are recognised by UUID and skipped, later ones are new. Flows without a UUID at that instant are matched by
// how many were taken (Hubble keeps its ring buffer in order). A flow a little older than the newest one (flow times
// are not strictly ordered) is new: only the resume instant is ever skipped. What this cannot see: a flow older than
// the resume instant that had not arrived yet when the stream broke is not sent again by `since`.
export interface ResumePoint {
  seconds: number;
  nanos: number;
  /** UUIDs taken at exactly (seconds, nanos); bounded, see MAX_UUIDS. */
  uuids: string[];
  /** Flows without a UUID taken at exactly (seconds, nanos). */
  anonymous: number;
}

/** Far more than flows a node sees within one nanosecond; bounds the state file whatever the input. */
const MAX_UUIDS = 1024;

// Called for every flow: plain fields and one small array, no object or Set per flow (docs/BENCHMARKS.md).
export class ResumeTracker {
  private has = false;
  private seconds = 0;
  private nanos = 0;
  /** UUIDs at the instant; almost always one. */
  private uuids: string[] = [];
  private anonymous = 0;
  /** Flows without a UUID at the resume instant still to be skipped after a reconnect. */
  private anonymousToSkip = 0;

  constructor(start?: ResumePoint) {
    if (start) {
      this.has = true;
      this.seconds = start.seconds;
      this.nanos = start.nanos;
      this.uuids = start.uuids.slice(0, MAX_UUIDS);
      this.anonymous = start.anonymous;
      this.anonymousToSkip = start.anonymous;
    }
  }

  get current(): ResumePoint | undefined {
    return this.has ? { seconds: this.seconds, nanos: this.nanos, uuids: [...this.uuids], anonymous: this.anonymous } : undefined;
  }

  /** Called when a new stream starts from `current`: what it sends again at that instant is skipped. */
  reconnected(): void {
    if (this.has) this.anonymousToSkip = this.anonymous;
  }

  /** True when the flow is new (and records it); false when it was already taken before the reconnect. */
  take(seconds: number, nanos: number, uuid: string): boolean {
    if (this.has) {
      // Older than the resume instant: Hubble's flow times come from several CPUs and are not strictly in order, and
      // a resumed stream only sends flows at or after `since`, so such a flow is new (the resume point stays).
      if (seconds < this.seconds || (seconds === this.seconds && nanos < this.nanos)) return true;
      if (seconds === this.seconds && nanos === this.nanos) {
        if (uuid) {
          if (this.uuids.includes(uuid)) return false;
          if (this.uuids.length < MAX_UUIDS) this.uuids.push(uuid);
        } else {
          if (this.anonymousToSkip > 0) {
            this.anonymousToSkip--;
            return false;
          }
          this.anonymous++;
        }
        return true;
      }
    }
    this.has = true;
    this.seconds = seconds;
    this.nanos = nanos;
    if (uuid) {
      if (this.uuids.length === 1) this.uuids[0] = uuid;
      else this.uuids = [uuid];
      this.anonymous = 0;
    } else {
      if (this.uuids.length > 0) this.uuids = [];
      this.anonymous = 1;
    }
    this.anonymousToSkip = 0;
    return true;
  }
}
