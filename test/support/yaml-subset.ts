// A reader for the plain subset of YAML that docker-compose.yml is written in, so a test can
// check the compose file against the repository without a YAML dependency. Anything outside
// the subset is an error naming the line, never a guess: the file stays in the subset.
//
// The subset: block mappings (`key: value`, `key:` with a more indented block below), block
// sequences of scalars (`- value`), flow sequences of scalars (`["a", "b"]`), scalars plain,
// "double-quoted" (escapes \" \\ \n \t) or 'single-quoted' ('' for '), comments (`#` at the
// start or after a space), indentation by spaces. Every scalar is read as a string (YAML
// would read `5` as a number; compose accepts both). An empty value is null. Not in it:
// anchors, aliases, tags, block scalars (| >), flow mappings, multi-document files,
// sequences of mappings.

export type YamlValue = string | null | YamlValue[] | { [key: string]: YamlValue };

export class YamlSubsetError extends Error {
  override readonly name = 'YamlSubsetError';
}

interface Line {
  readonly number: number;
  readonly indent: number;
  readonly text: string;
}

export function parseYamlSubset(source: string): YamlValue {
  const lines: Line[] = [];
  source.split(/\r?\n/).forEach((raw, i) => {
    const number = i + 1;
    const indent = raw.length - raw.trimStart().length;
    if (/^ *\t/.test(raw)) throw new YamlSubsetError(`line ${number}: tab in indentation`);
    const text = stripComment(raw, number).trim();
    if (text === '') return;
    if (text === '---' || text === '...') throw new YamlSubsetError(`line ${number}: document markers are not in the subset`);
    lines.push({ number, indent, text });
  });
  if (lines.length === 0) return null;
  if (lines[0]!.indent !== 0) throw new YamlSubsetError(`line ${lines[0]!.number}: the top level must not be indented`);
  const [value, next] = parseBlock(lines, 0, 0);
  if (next < lines.length) throw new YamlSubsetError(`line ${lines[next]!.number}: unexpected indentation`);
  return value;
}

function parseBlock(lines: readonly Line[], start: number, indent: number): [YamlValue, number] {
  return isSequenceItem(lines[start]!.text) ? parseSequence(lines, start, indent) : parseMapping(lines, start, indent);
}

function isSequenceItem(text: string): boolean {
  return text === '-' || text.startsWith('- ');
}

function parseMapping(lines: readonly Line[], start: number, indent: number): [YamlValue, number] {
  const out: { [key: string]: YamlValue } = {};
  let i = start;
  while (i < lines.length && lines[i]!.indent === indent) {
    const line = lines[i]!;
    if (isSequenceItem(line.text)) throw new YamlSubsetError(`line ${line.number}: a sequence item where a mapping entry belongs`);
    const colon = findKeyColon(line.text);
    if (colon < 0) throw new YamlSubsetError(`line ${line.number}: expected "key: value"`);
    const key = parseScalar(line.text.slice(0, colon).trim(), line.number);
    if (key === null || key === '') throw new YamlSubsetError(`line ${line.number}: empty key`);
    if (Object.hasOwn(out, key)) throw new YamlSubsetError(`line ${line.number}: duplicate key "${key}"`);
    const rest = line.text.slice(colon + 1).trim();
    i++;
    if (rest !== '') {
      out[key] = parseInline(rest, line.number);
    } else if (i < lines.length && lines[i]!.indent > indent) {
      [out[key], i] = parseBlock(lines, i, lines[i]!.indent);
    } else {
      out[key] = null;
    }
  }
  if (i < lines.length && lines[i]!.indent > indent) throw new YamlSubsetError(`line ${lines[i]!.number}: unexpected indentation`);
  return [out, i];
}

function parseSequence(lines: readonly Line[], start: number, indent: number): [YamlValue, number] {
  const out: YamlValue[] = [];
  let i = start;
  while (i < lines.length && lines[i]!.indent === indent) {
    const line = lines[i]!;
    if (!isSequenceItem(line.text)) throw new YamlSubsetError(`line ${line.number}: a mapping entry where a sequence item belongs`);
    const item = line.text.slice(1).trim();
    if (item === '' || findKeyColon(item) >= 0) throw new YamlSubsetError(`line ${line.number}: only scalars are allowed as sequence items`);
    out.push(parseInline(item, line.number));
    i++;
  }
  if (i < lines.length && lines[i]!.indent > indent) throw new YamlSubsetError(`line ${lines[i]!.number}: unexpected indentation`);
  return [out, i];
}

/** A value on the same line as its key or dash: a flow sequence or a scalar. */
function parseInline(text: string, lineNumber: number): YamlValue {
  if (!text.startsWith('[')) return parseScalar(text, lineNumber);
  if (!text.endsWith(']')) throw new YamlSubsetError(`line ${lineNumber}: a flow sequence must end on its line`);
  const body = text.slice(1, -1).trim();
  if (body === '') return [];
  return splitOutsideQuotes(body, ',', lineNumber).map((item) => parseScalar(item.trim(), lineNumber));
}

function parseScalar(text: string, lineNumber: number): string | null {
  if (text === '' || text === '~' || text === 'null') return text === '' ? null : text; // strings stay strings
  const quote = text[0];
  if (quote === '"' || quote === "'") {
    if (text.length < 2 || text[text.length - 1] !== quote) throw new YamlSubsetError(`line ${lineNumber}: unterminated quoted scalar`);
    const inner = text.slice(1, -1);
    if (quote === "'") {
      if (inner.replaceAll("''", '').includes("'")) throw new YamlSubsetError(`line ${lineNumber}: a lone ' inside a single-quoted scalar`);
      return inner.replaceAll("''", "'");
    }
    return inner.replace(/\\(.)|"/g, (match, escaped: string | undefined) => {
      if (escaped === undefined) throw new YamlSubsetError(`line ${lineNumber}: a lone " inside a double-quoted scalar`);
      const table: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t' };
      const out = table[escaped];
      if (out === undefined) throw new YamlSubsetError(`line ${lineNumber}: escape \\${escaped} is not in the subset`);
      return out;
    });
  }
  if (/^[&*!|>%@`{[\],]/.test(text)) throw new YamlSubsetError(`line ${lineNumber}: "${text[0]}" starts a construct outside the subset; quote the value`);
  if (text.includes(': ') || text.endsWith(':')) throw new YamlSubsetError(`line ${lineNumber}: ": " inside a plain scalar; quote it`);
  return text;
}

/** Index of the colon that ends a mapping key (followed by a space or the end), outside quotes; -1 if none. */
function findKeyColon(text: string): number {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '[') return -1; // a flow sequence value, not a key
    else if (c === ':' && (i + 1 === text.length || text[i + 1] === ' ')) return i;
  }
  return -1;
}

function stripComment(raw: string, lineNumber: number): string {
  let quote: string | undefined;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || raw[i - 1] === ' ')) return raw.slice(0, i);
  }
  if (quote) throw new YamlSubsetError(`line ${lineNumber}: unterminated quoted scalar`);
  return raw;
}

function splitOutsideQuotes(text: string, separator: string, lineNumber: number): string[] {
  const parts: string[] = [];
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{') throw new YamlSubsetError(`line ${lineNumber}: nested flow collections are not in the subset`);
    else if (c === separator) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}
