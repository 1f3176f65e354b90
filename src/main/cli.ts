import { createInterface } from 'node:readline/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildApp } from '../app/build-app.js';
import { createDependencies, type Dependencies } from '../app/dependencies.js';
import { ConfigError, loadConfig, loadConfigFromProcess } from '../config/config.js';
import { openDatabase } from '../platform/db/client.js';
import { runMigrations } from '../platform/db/migrate.js';
import { isAppError } from '../shared/errors.js';

const USAGE = `Usage:
  npm run cli -- create-user --username NAME [--email EMAIL] [--staff] [--password PASSWORD]
      Creates a user; prompts for the password when --password is not given.
  npm run cli -- grant-moderator --username NAME
  npm run cli -- revoke-moderator --username NAME
      Grants (revokes) the chat moderator role; the user's open sockets follow at once when the
      API nodes share the bus (REDIS_URL). Staff are moderators by their flag either way.
  npm run cli -- openapi
      Prints the OpenAPI document generated from the route schemas.`;

async function readPassword(): Promise<string> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr, terminal: false });
  try {
    return (await prompt.question('Password: ')).trim();
  } finally {
    prompt.close();
  }
}

async function createUser(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      username: { type: 'string' },
      email: { type: 'string', default: '' },
      password: { type: 'string' },
      staff: { type: 'boolean', default: false },
    },
  });
  if (!values.username) throw new UsageError('--username is required');
  const password = values.password ?? (await readPassword());
  const config = loadConfigFromProcess();
  const deps = await createDependencies(config);
  try {
    await runMigrations(deps.database);
    const user = await deps.authService.createUser({
      username: values.username,
      password,
      email: values.email,
      isStaff: values.staff,
    });
    console.log(JSON.stringify({ id: user.id, username: user.username, is_staff: user.isStaff }));
  } finally {
    await deps.close();
  }
}

/**
 * grant-moderator / revoke-moderator: the operator's way to appoint the first moderators (the
 * REST endpoints need a staff user). Exported for tests, which pass their own container.
 */
export async function setModerator(
  deps: Pick<Dependencies, 'moderatorsService'>,
  args: string[],
  action: 'grant' | 'revoke',
  print: (line: string) => void = console.log,
) {
  const { values } = parseArgs({ args, options: { username: { type: 'string' } } });
  if (!values.username) throw new UsageError('--username is required');
  if (action === 'grant') {
    const { created, moderator } = await deps.moderatorsService.grantModeratorByUsername(values.username);
    print(JSON.stringify({ ...moderator, created }));
  } else {
    const { revoked } = await deps.moderatorsService.revokeModeratorByUsername(values.username);
    print(JSON.stringify({ username: values.username, revoked }));
  }
}

async function withDependencies(run: (deps: Dependencies) => Promise<void>) {
  const deps = await createDependencies(loadConfigFromProcess());
  try {
    await runMigrations(deps.database);
    await run(deps);
  } finally {
    await deps.close();
  }
}

async function printOpenApi() {
  // An in-memory database is enough: the document comes from the route schemas alone.
  const config = loadConfig({ LOG_LEVEL: 'silent', JWT_SECRET: 'x'.repeat(32) });
  const database = await openDatabase({ kind: 'pglite' });
  const deps = await createDependencies(config, { database });
  const app = await buildApp(deps);
  await app.ready();
  console.log(JSON.stringify(app.swagger(), null, 2));
  await app.close();
  await deps.close();
  await database.close();
}

export class UsageError extends Error {}

async function main(command: string | undefined, rest: string[]) {
  try {
    if (command === 'create-user') await createUser(rest);
    else if (command === 'grant-moderator' || command === 'revoke-moderator') {
      const action = command === 'grant-moderator' ? 'grant' : 'revoke';
      await withDependencies((deps) => setModerator(deps, rest, action));
    } else if (command === 'openapi') await printOpenApi();
    else throw new UsageError(command ? `unknown command: ${command}` : 'no command given');
  } catch (error) {
    if (error instanceof UsageError) console.error(`${error.message}\n\n${USAGE}`);
    else if (error instanceof ConfigError) console.error(error.message);
    else if (isAppError(error)) console.error(`${error.code}: ${error.detail}`);
    else console.error(error);
    process.exitCode = 1;
  }
}

// Run as the entry point only: tests import the commands.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [command, ...rest] = process.argv.slice(2);
  await main(command, rest);
}
