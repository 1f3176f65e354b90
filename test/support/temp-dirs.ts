import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The folders this test file made; test/support/setup-temp-dirs.ts removes them after its last test
// (a PGlite data folder is ≈ 40 MB, and CI runs on a machine whose disk can run low).
const made: string[] = [];

/** A new empty folder under the system's temp folder, removed once the test file is done. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}
