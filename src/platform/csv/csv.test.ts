import { describe, expect, it } from 'vitest';
import { toCsv } from './csv.js';

describe('toCsv', () => {
  it('writes the header, quotes per RFC 4180 and ends records with CRLF', () => {
    expect(
      toCsv(
        ['id', 'conteudo'],
        [
          ['1', 'a,b'],
          ['2', 'diz "oi"\nlinha'],
        ],
      ),
    ).toBe('id,conteudo\r\n1,"a,b"\r\n2,"diz ""oi""\nlinha"\r\n');
  });

  it('neutralizes cells a spreadsheet would run as formulas', () => {
    const cells = ['=1+1', '+x', '-y', '@z', '\tt', '\rr', 'ok', ''];
    const [, row] = toCsv(
      cells.map((_, i) => `c${i}`),
      [cells],
    ).split('\r\n');
    expect(row).toBe(`'=1+1,'+x,'-y,'@z,'\tt,"'\rr",ok,`);
  });

  it('writes empty cells for null and undefined', () => {
    expect(toCsv(['a', 'b', 'c'], [[null, undefined, 0]])).toBe('a,b,c\r\n,,0\r\n');
  });
});
