// A function's answers kept by key for keys that come back again and again (request paths,
// file names), within a bound: the table is emptied when full, so a stream of distinct keys
// costs one lookup each and never more memory than `maxEntries`.

export interface BoundedMemoOptions {
  readonly maxEntries: number;
  /** Longer keys are answered but not kept. */
  readonly maxKeyChars?: number;
}

export function boundedMemo<T>(compute: (key: string) => T, options: BoundedMemoOptions): (key: string) => T {
  const kept = new Map<string, T>();
  const maxKeyChars = options.maxKeyChars ?? Infinity;
  return (key) => {
    let value = kept.get(key);
    if (value === undefined) {
      value = compute(key);
      if (key.length <= maxKeyChars) {
        if (kept.size >= options.maxEntries) kept.clear();
        kept.set(key, value);
      }
    }
    return value;
  };
}
