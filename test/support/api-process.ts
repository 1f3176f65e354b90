import { spawn, type ChildProcess } from 'node:child_process';

const ROOT = new URL('../..', import.meta.url).pathname;

export type ApiProcess = { child: ChildProcess; port: number; output: () => string };

/**
 * Starts the real API entry point (as `npm start` does) on a free loopback port and waits until it
 * listens. `prefix` runs it under another command (e.g. `taskset -c 0`); `nodeArgs` go to node.
 */
export async function startApiProcess(
  env: Record<string, string>,
  options: { prefix?: string[]; nodeArgs?: string[]; echoLog?: boolean; timeoutMs?: number } = {},
): Promise<ApiProcess> {
  const [command, ...prefixArgs] = [...(options.prefix ?? []), process.execPath];
  const args = [...prefixArgs, ...(options.nodeArgs ?? []), '--import', 'tsx', 'src/main/api.ts'];
  const child = spawn(command!, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  // The last 50 kB are enough to explain a failure.
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-50_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  if (options.echoLog) child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start:\n${output}`)),
      options.timeoutMs ?? 60_000,
    );
    const check = () => {
      const match = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
  return { child, port, output: () => output };
}
