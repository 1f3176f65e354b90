/* global module */
// Module boundaries (`npm run deps:check`, part of `npm run check`); why dependency-cruiser and why
// these rules: docs/decisions/0003-module-boundaries.md. Paths are relative to the folder it runs in.
// Type-only imports count: a type import ties two modules together as much as a value import.

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-module-folder-cycles',
      comment:
        'Module folders (src/modules/<feature>/) form layers: a folder may import lower ones only. ' +
        'Where a lower module needs something a higher one owns, the composition root ' +
        '(src/app/dependencies.ts) hands it a narrow function.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/modules/[^/]+$' },
      to: { path: '^src/modules/[^/]+$', circular: true },
    },
    {
      name: 'no-platform-or-shared-to-features',
      comment:
        'platform/ and shared/ know nothing of chat: they may not import modules, realtime or app. ' +
        'src/platform/db/schema.ts, the list of every table for drizzle-kit and the typed client, is ' +
        'excluded from the cruise below for that reason.',
      severity: 'error',
      from: { path: '^src/(platform|shared)/' },
      to: { path: '^src/(modules|realtime|app|main)/' },
    },
    {
      name: 'no-realtime-to-modules',
      comment: 'The transport knows frames, not business rules: modules register with it, not the reverse.',
      severity: 'error',
      from: { path: '^src/realtime/' },
      to: { path: '^src/(modules|app|main)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: {
      path: [
        // Tests may reach across modules to set up what they check.
        '\\.test\\.ts$',
        // Imports every module's table on purpose (see no-platform-or-shared-to-features).
        '^src/platform/db/schema\\.ts$',
      ],
    },
    tsPreCompilationDeps: true,
  },
};
