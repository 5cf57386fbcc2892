// A <video> element's forward buffer, as a pure model: the playhead advances at the bitrate
// while playing and while there is buffered media; the player stops reading once it holds
// bufferAheadS seconds ahead of the playhead and reads again when it has drained below a
// low-water mark. Bitrate 0 means "as fast as possible": never full.

const LOW_WATER_SHARE = 0.9;

export class PlaybackBuffer {
  private readonly bytesPerMs: number;
  private readonly aheadBytes: number;
  private playhead: number;
  private bufferedEnd: number;
  private lastMs: number;
  private isPlaying = true;

  constructor(bitrateBps: number, bufferAheadS: number, startOffset: number, nowMs: number) {
    this.bytesPerMs = bitrateBps / 8 / 1000;
    this.aheadBytes = (bitrateBps / 8) * bufferAheadS;
    this.playhead = startOffset;
    this.bufferedEnd = startOffset;
    this.lastMs = nowMs;
  }

  add(bytes: number, nowMs: number): void {
    this.advance(nowMs);
    this.bufferedEnd += bytes;
  }

  setPlaying(isPlaying: boolean, nowMs: number): void {
    this.advance(nowMs);
    this.isPlaying = isPlaying;
  }

  isFull(nowMs: number): boolean {
    if (this.bytesPerMs === 0) return false;
    this.advance(nowMs);
    return this.bufferedEnd - this.playhead >= this.aheadBytes;
  }

  /** Ms until the buffer has drained to the low-water mark; Infinity while paused. */
  msUntilRoom(nowMs: number): number {
    if (this.bytesPerMs === 0) return 0;
    this.advance(nowMs);
    if (!this.isPlaying) return Infinity;
    const excess = this.bufferedEnd - this.playhead - this.aheadBytes * LOW_WATER_SHARE;
    return Math.max(0, excess / this.bytesPerMs);
  }

  private advance(nowMs: number): void {
    if (this.isPlaying && this.bytesPerMs > 0) {
      this.playhead = Math.min(this.bufferedEnd, this.playhead + (nowMs - this.lastMs) * this.bytesPerMs);
    }
    this.lastMs = nowMs;
  }
}
