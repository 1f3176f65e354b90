import type { Config } from '../../config/config.js';
import { createClamdScanner, createNoScanner } from './clamd-scanner.js';
import type { Scanner } from './scanner.js';

/** clamd when CLAMAV_HOST or CLAMAV_SOCKET is set, otherwise the scanner that skips. */
export function createScanner(config: Pick<Config, 'scanner'>): Scanner {
  const settings = config.scanner;
  if (!settings) return createNoScanner();
  const address =
    'socketPath' in settings
      ? { socketPath: settings.socketPath }
      : { host: settings.host, port: settings.port };
  return createClamdScanner(address, { timeoutMs: settings.timeoutMs });
}
