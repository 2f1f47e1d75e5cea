import { describe, expect, it } from 'vitest';
import { Lexer, unescapeWord, type Statement } from '../../../src/config/lexer.js';

function all(text: string): Statement[] {
  const lexer = new Lexer(text, '/t.conf');
  const out: Statement[] = [];
  for (;;) {
    const st = lexer.next();
    out.push(st);
    if (st.kind === 'eof') return out;
  }
}

const words = (text: string): string[][] =>
  all(text).flatMap((s) => (s.kind === 'directive' ? [s.args] : []));

const lexError = (text: string): string => {
  try {
    all(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('no error');
};

describe('config lexer', () => {
  it('splits statements on ; { } with nginx line numbers (the line of the terminator)', () => {
    expect(all('a b;\nc {\n d\n ;\n}\n')).toEqual([
      { kind: 'directive', args: ['a', 'b'], block: false, line: 1 },
      { kind: 'directive', args: ['c'], block: true, line: 2 },
      { kind: 'directive', args: ['d'], block: false, line: 4 },
      { kind: 'end', line: 5 },
      { kind: 'eof', line: 6 },
    ]);
  });

  it('skips # comments only where a word could start', () => {
    expect(words('a # c ; d\nb c#d;\n#x;\n')).toEqual([['a', 'b', 'c#d']]);
  });

  it('unquotes single and double quoted words and resolves escapes', () => {
    expect(words(`a "x y" 'p q' "a\\"b" 'c\\'d' "t\\tn\\nr\\rb\\\\" "\\d";`)).toEqual([
      ['a', 'x y', 'p q', 'a"b', "c'd", 't\tn\nr\rb\\', '\\d'],
    ]);
  });

  it('keeps an escaped terminator or space inside an unquoted word, backslash included (nginx)', () => {
    expect(words('a b\\;c d\\ e;')).toEqual([['a', 'b\\;c', 'd\\ e']]);
  });

  it('keeps ${ inside a word and does not expand variables', () => {
    expect(words('a ${x}y $z;')).toEqual([['a', '${x}y', '$z']]);
  });

  it('treats } inside an unquoted word as part of the word, like nginx', () => {
    expect(words('a b};')).toEqual([['a', 'b}']]);
  });

  it('accepts ) right after a quoted word and starts a new word with it', () => {
    expect(words('a "b")c;')).toEqual([['a', 'b', ')c']]);
  });

  it('keeps quotes that are not at the start of a word', () => {
    expect(words('a b"c"d;')).toEqual([['a', 'b"c"d']]);
  });

  it('reports lexical errors like nginx, with the current line', () => {
    expect(lexError('a "b"c;')).toBe('unexpected "c" in /t.conf:1');
    expect(lexError('\n;')).toBe('unexpected ";" in /t.conf:2');
    expect(lexError('{')).toBe('unexpected "{" in /t.conf:1');
    expect(lexError('a\n}')).toBe('unexpected "}" in /t.conf:2');
    expect(lexError('a b')).toBe('unexpected end of file, expecting ";" or "}" in /t.conf:1');
    expect(lexError('a "b\n\n')).toBe('unexpected end of file, expecting ";" or "}" in /t.conf:3');
    expect(lexError('a # comment')).toBe('unexpected end of file, expecting ";" or "}" in /t.conf:1');
  });

  it('unescapeWord leaves unknown escapes as written', () => {
    expect(unescapeWord('\\q\\\\\\"')).toBe('\\q\\"');
  });
});
