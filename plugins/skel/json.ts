/**
 * Where a JSON text first goes wrong. JSON.parse says so in words that differ
 * between engines and versions (V8 names the position for some errors only, Bun
 * never), so on failure this scanner finds the offset itself. It runs only on
 * the error path and keeps its own stack, so deep nesting cannot overflow ours.
 */
export interface JsonSyntaxError {
  /** UTF-16 offset into the text. */
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  /** What the scanner wanted at the offset, e.g. "',' or '}'". */
  readonly expected: string;
}

export function locateJsonError(text: string): JsonSyntaxError | undefined {
  let pos = 0;
  const fail = (expected: string): JsonSyntaxError => position(text, pos, expected);
  const ws = () => {
    while (pos < text.length && ' \t\n\r'.includes(text[pos]!)) pos++;
  };
  const scanString = (): JsonSyntaxError | undefined => {
    pos++; // opening quote
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        pos++;
        return undefined;
      }
      if (c < 0x20) return fail('control characters escaped as \\u00XX');
      if (c === 0x5c) {
        const e = text[pos + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(pos + 2, pos + 6))) {
            pos += 2;
            return fail('four hex digits after \\u');
          }
          pos += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          pos += 2;
        } else {
          pos++;
          return fail('an escape: one of " \\ / b f n r t u');
        }
      } else {
        pos++;
      }
    }
    return fail("a closing '\"'");
  };
  const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const scanValue = (): JsonSyntaxError | 'open' | undefined => {
    const c = text[pos];
    if (c === '"') return scanString();
    if (c === '{' || c === '[') return 'open';
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, pos)) {
        pos += lit.length;
        return undefined;
      }
    }
    number.lastIndex = pos;
    if (number.test(text)) {
      pos = number.lastIndex;
      return undefined;
    }
    return fail('a value');
  };
  const scanKey = (): JsonSyntaxError | undefined => {
    if (text[pos] !== '"') return fail('a property name in double quotes');
    const err = scanString();
    if (err) return err;
    ws();
    if (text[pos] !== ':') return fail("':'");
    pos++;
    ws();
    return undefined;
  };

  const stack: ('{' | '[')[] = [];
  ws();
  for (;;) {
    // A value starts at pos.
    const v = scanValue();
    if (v === 'open') {
      const open = text[pos] as '{' | '[';
      const close = open === '{' ? '}' : ']';
      pos++;
      ws();
      if (text[pos] === close) {
        pos++;
      } else {
        stack.push(open);
        if (open === '{') {
          const err = scanKey();
          if (err) return err;
        }
        continue;
      }
    } else if (v) {
      return v;
    }
    // A value ended: close containers or move to the next element.
    for (;;) {
      ws();
      const top = stack[stack.length - 1];
      if (top === undefined) return pos < text.length ? fail('the end of the input') : undefined;
      const close = top === '{' ? '}' : ']';
      if (text[pos] === close) {
        stack.pop();
        pos++;
        continue;
      }
      if (text[pos] !== ',') return fail(`',' or '${close}'`);
      pos++;
      ws();
      if (top === '{') {
        const err = scanKey();
        if (err) return err;
      }
      break;
    }
  }
}

function position(text: string, offset: number, expected: string): JsonSyntaxError {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset, line, column: offset - lineStart + 1, expected };
}
