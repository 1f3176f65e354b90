import { afterAll } from 'vitest';
import { removeTempDirs } from './temp-dirs.js';

// Registered first, so it runs after every other afterAll of the file (processes are stopped then).
afterAll(removeTempDirs);
