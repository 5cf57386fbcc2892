// Keeps the README true: every configuration setting appears in its table with the flag and
// default the code has, and the two commands it promises exist.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SETTINGS } from '../../server/config.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  scripts: Record<string, string>;
};

describe('README', () => {
  for (const setting of SETTINGS) {
    it(`documents ${setting.env} with its flag and default`, () => {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${setting.env}\` |`));
      assert.ok(row, `no table row for ${setting.env}`);
      assert.ok(row.includes(`\`--${setting.env.toLowerCase().replaceAll('_', '-')}\``), `flag of ${setting.env}`);
      const isPathDefault = setting.kind === 'path';
      if (setting.fallback === undefined) assert.ok(row.includes('unset'), `${setting.env} is unset by default`);
      else if (!isPathDefault) assert.ok(row.includes(`\`${setting.fallback}\``), `${setting.env} default ${setting.fallback}`);
    });
  }
  it('shows the two commands, and they exist', () => {
    assert.match(readme, /npm install && npm start/);
    assert.match(readme, /npm install && npm test/);
    assert.ok(pkg.scripts.start && pkg.scripts.test);
  });
});
