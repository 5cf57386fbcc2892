// Where the project is and which Node runs its scripts: the Node 24 that `npm install` put in
// node_modules/.bin (a real binary, so the child's pid is the server's own), else this one.

import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function projectNodeBinary(): string {
  const local = path.join(projectRoot, 'node_modules/.bin/node');
  return existsSync(local) ? realpathSync(local) : process.execPath;
}
