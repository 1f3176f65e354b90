import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// `npm run deps:check` (dependency-cruiser with .dependency-cruiser.cjs) run on small source trees
// with a known shape, so a rule that stopped matching (a path pattern, an option) fails here.

const root = fileURLToPath(new URL('..', import.meta.url));
const cruiser = `${root}node_modules/dependency-cruiser/bin/dependency-cruise.mjs`;

function checkFixture(name: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cruiser, '--config', `${root}.dependency-cruiser.cjs`, 'src'],
      { cwd: `${root}test/fixtures/module-boundaries/${name}` },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

describe('module boundaries check', { timeout: 30_000 }, () => {
  it('fails on two module folders that import each other, and names the cycle', async () => {
    const { code, output } = await checkFixture('cycle');
    expect(code).not.toBe(0);
    expect(output).toContain('no-module-folder-cycles');
    expect(output).toMatch(/src\/modules\/alpha →\s+src\/modules\/beta →\s+src\/modules\/alpha/);
  });

  it('counts type-only imports: a cycle closed by `import type` fails too', async () => {
    const { code, output } = await checkFixture('type-cycle');
    expect(code).not.toBe(0);
    expect(output).toMatch(/src\/modules\/beta →\s+src\/modules\/alpha →\s+src\/modules\/beta/);
  });

  it('fails when src/platform imports a module', async () => {
    const { code, output } = await checkFixture('platform-to-module');
    expect(code).not.toBe(0);
    expect(output).toContain(
      'no-platform-or-shared-to-features: src/platform/db/client.ts → src/modules/alpha/alpha.table.ts',
    );
  });

  it('passes on layered module folders (beta → alpha → shared)', async () => {
    const { code, output } = await checkFixture('layered');
    expect(output).toContain('no dependency violations found (3 modules, 3 dependencies cruised)');
    expect(code).toBe(0);
  });
});
