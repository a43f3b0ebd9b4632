/**
 * Which networks' folders to read again, from their modification times. A time that is too recent
 * to be final (a second write in the same clock tick leaves the same mtime) is read again at the
 * next look, as git treats a racily clean index.
 */
export class ChangeTracker {
  private readonly seen = new Map<string, { readonly mtimeMs: number; readonly settled: boolean }>();

  /**
   * Time a folder's mtime must lie behind the clock before a read of it is taken as final: more
   * than the kernel's timestamp tick (a jiffy, 10 ms at most).
   */
  constructor(readonly racyMs = 20) {}

  /** Whether the folder must be read now; records the time seen. `mtimeMs` undefined: the folder is gone. */
  changed(key: string, mtimeMs: number | undefined, nowMs: number): boolean {
    if (mtimeMs === undefined) return this.seen.delete(key);
    const before = this.seen.get(key);
    const settled = nowMs - mtimeMs >= this.racyMs;
    this.seen.set(key, { mtimeMs, settled });
    return !before || before.mtimeMs !== mtimeMs || !before.settled;
  }

  /** The mtime of the folder as last read, when that read was final; undefined while a read again is due. */
  settled(key: string): number | undefined {
    const seen = this.seen.get(key);
    return seen?.settled ? seen.mtimeMs : undefined;
  }

  /** Whether some folder must be read again though its mtime stays. */
  get unsettled(): boolean {
    return [...this.seen.values()].some((s) => !s.settled);
  }

  /** Forgets every folder not in `keys` and names them. */
  retain(keys: readonly string[]): string[] {
    const gone = [...this.seen.keys()].filter((k) => !keys.includes(k));
    for (const k of gone) this.seen.delete(k);
    return gone;
  }
}
