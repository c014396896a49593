// fs-native-extensions ships no types; declared here with the one call ringkv uses
// (src/storage/env/dir-lock.ts).
declare module 'fs-native-extensions' {
  /**
   * Tries an advisory lock on the open file `fd` (exclusive unless `shared`): true if taken,
   * false if another open file description holds a conflicting lock. Never waits.
   */
  export function tryLock(fd: number, opts?: { shared?: boolean }): boolean;
  const fsx: { tryLock: typeof tryLock };
  export default fsx;
}
