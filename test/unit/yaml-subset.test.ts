// The YAML subset reader docker-compose.yml is checked with (test/support/yaml-subset.ts):
// what it reads, and that everything outside the subset is refused with its line number
// rather than read wrongly.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseYamlSubset, YamlSubsetError } from '../support/yaml-subset.ts';

describe('YAML subset: read', () => {
  const cases: readonly [string, string, unknown][] = [
    ['an empty file', '# only a comment\n\n', null],
    ['nested mappings', 'a:\n  b:\n    c: d\n  e: f\ng: h\n', { a: { b: { c: 'd' }, e: 'f' }, g: 'h' }],
    ['an empty value is null', 'volumes:\n  media:\n  tls:\n', { volumes: { media: null, tls: null } }],
    ['a block sequence of scalars', 'ports:\n  - "8443:8443"\n  - 8404:8404\n', { ports: ['8443:8443', '8404:8404'] }],
    ['a flow sequence', 'test: ["CMD", node, \'a b\', "x, y"]\n', { test: ['CMD', 'node', 'a b', 'x, y'] }],
    ['an empty flow sequence', 'a: []\n', { a: [] }],
    ['scalars stay strings', 'retries: 5\nflag: true\n', { retries: '5', flag: 'true' }],
    ['comments after values, not inside quotes', 'a: b # note\nc: "d # e"\nf: g#h\n', { a: 'b', c: 'd # e', f: 'g#h' }],
    ['double-quoted escapes', 'a: "say \\"hi\\"\\\\ \\n"\n', { a: 'say "hi"\\ \n' }],
    ["single-quoted ''", "a: 'it''s'\n", { a: "it's" }],
    ['compose interpolation stays as written', 'a: "${UPLOAD_TOKEN:-}"\n', { a: '${UPLOAD_TOKEN:-}' }],
    ['a colon without a space is part of a plain scalar', 'url: redis://redis:6379\n', { url: 'redis://redis:6379' }],
    ['a quoted key', '"a b": c\n', { 'a b': 'c' }],
    ['a top-level sequence', '- a\n- b\n', ['a', 'b']],
  ];
  for (const [name, source, expected] of cases) it(name, () => assert.deepEqual(parseYamlSubset(source), expected));
});

describe('YAML subset: refused, with the line', () => {
  const cases: readonly [string, string, number][] = [
    ['a tab in indentation', 'a:\n\tb: c\n', 2],
    ['an anchor', 'a: &x b\n', 1],
    ['an alias', 'a: *x\n', 1],
    ['a block scalar', 'a: |\n  b\n', 1],
    ['a tag', 'a: !!str b\n', 1],
    ['a flow mapping', 'a: {b: c}\n', 1],
    ['a nested flow sequence', 'a: [b, [c]]\n', 1],
    ['a sequence of mappings', 'a:\n  - b: c\n', 2],
    ['a duplicate key', 'a: b\na: c\n', 2],
    ['a document marker', '---\na: b\n', 1],
    ['an unterminated quote', 'a: "b\n', 1],
    ['a lone double quote inside', 'a: "b"c"\n', 1],
    ['an unknown escape', 'a: "\\x41"\n', 1],
    ['": " inside a plain scalar', 'a: b: c\n', 1],
    ['a line that is not an entry', 'a: b\njust text\n', 2],
    ['indentation where none belongs', 'a: b\n  c: d\n', 2],
    ['an indented top level', '  a: b\n', 1],
    ['a sequence item among mapping entries', 'a:\n  b: c\n  - d\n', 3],
    ['a flow sequence not closed on its line', 'a: [b,\n  c]\n', 1],
  ];
  for (const [name, source, line] of cases) {
    it(name, () => {
      assert.throws(() => parseYamlSubset(source), (err: unknown) => err instanceof YamlSubsetError && err.message.startsWith(`line ${line}:`));
    });
  }
});
