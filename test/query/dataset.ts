import { sqliteDatetime } from './fixtures.js';

// The rows and filters that SQLite, PostgreSQL and the in-memory matcher must agree on.
export type Row = { id: number; name: string | null; price: number | null; status: string | null; active: boolean; createdAt: Date };

export const base = Date.UTC(2024, 0, 1);
export const at = (id: number) => new Date(base + id * 3 * 86_400_000 + id * 3_600_000 + id * 7); // distinct, with milliseconds
export const data: Array<[number, string | null, number | null, string | null, boolean]> = [
  [1, 'Lamp', 10, 'open', true],
  [2, 'lamp', 20, 'open', false],
  [3, 'LAMP shade', 99, 'closed', true],
  [4, 'Desk lamp', null, 'open', true],
  [5, 'Table', 5, null, false],
  [6, null, 15, 'open', true],
  [7, '100% cotton', 100, 'draft', true],
  [8, '100 percent', 101, 'draft', false],
  [9, 'snake_case', 0, 'open', true],
  [10, 'snakeXcase', -5, 'closed', false],
  [11, 'back\\slash', 42, 'open', true],
  [12, 'C:\\dir\\file', 7, null, true],
  [13, 'star*name', 8, 'open', false],
  [14, 'what?', 9, 'open', true],
  [15, '[bracket]', 11, 'closed', true],
  [16, '', 12, 'open', false],
  [17, 'Ärger', 13, 'open', true],
  [18, 'ärger', 14, 'closed', false],
  [19, '🙂x', 15, 'open', true],
  [20, '\uFFFD', 16, 'open', false],
  [21, 'amp', null, null, false],
  [22, 'Lamp post', 1000, 'open', true],
  [23, 'lamps', 10, 'OPEN', true],
  [24, 'zebra', 30, 'archived', false],
  [25, 'Zebra', 31, 'open', true],
  [26, 'Lamp', 10, 'closed', false],
  [27, '%', 0, 'open', true],
  [28, '_', null, 'open', false],
  [29, 'lamp\\', 33, 'open', true],
  [30, 'mixed Case LaMp', 44, 'open', true],
];
export const rows: Row[] = data.map(([id, name, price, status, active]) => ({ id, name, price, status, active, createdAt: at(id) }));

// [filter, ids SQLite must return (checked by hand, so both sides cannot be wrong together)]
export const cases: Array<[unknown, number[]?]> = [
  [{ status: 'open' }],
  [{ status: { ne: 'open' } }, [3, 7, 8, 10, 15, 18, 23, 24, 26]], // NULL status is not "not open"
  [{ status: null }, [5, 12, 21]],
  [{ status: { eq: null } }, [5, 12, 21]],
  [{ status: { ne: null } }],
  [{ price: { isNull: true } }, [4, 21, 28]],
  [{ price: { isNull: false } }],
  [{ price: { gt: 10 } }],
  [{ price: { gte: 10 } }],
  [{ price: { lt: 10 } }, [5, 9, 10, 12, 13, 14, 27]],
  [{ price: { lte: 0 } }, [9, 10, 27]],
  [{ price: { gte: 10, lt: 100 } }],
  [{ price: { ne: 10 } }],
  [{ price: { in: [5, 10, 99] } }, [1, 3, 5, 23, 26]],
  [{ price: { nin: [5, 10] } }],
  [{ price: { in: [] } }, []],
  [{ price: { nin: [] } }, rows.map((r) => r.id)],
  [{ $or: [{ price: { ne: 10 } }, { price: null }] }],
  [{ name: { like: 'Lamp' } }, [1, 26]],
  [{ name: { ilike: 'lamp' } }, [1, 2, 26]],
  [{ name: { like: '%lamp%' } }, [2, 4, 23, 29]],
  [{ name: { like: '%Lamp%' } }, [1, 22, 26]],
  [{ name: { ilike: '%LAMP%' } }, [1, 2, 3, 4, 22, 23, 26, 29, 30]],
  [{ name: { like: '_amp' } }, [1, 2, 26]],
  [{ name: { like: 'L_mp%' } }, [1, 22, 26]],
  [{ name: { like: '%\\%%' } }, [7, 27]],
  [{ name: { like: '%\\_%' } }, [9, 28]],
  [{ name: { like: '%\\\\%' } }, [11, 12, 29]],
  [{ name: { ilike: '100\\%%' } }, [7]],
  [{ name: { like: '%\\\\' } }, [29]],
  [{ name: { like: '%*%' } }, [13]],
  [{ name: { like: '%?' } }, [14]],
  [{ name: { like: '[%]' } }, [15]],
  [{ name: { like: '%' } }],
  [{ name: { like: '' } }, [16]],
  [{ name: { like: '_' } }, [20, 27, 28]],
  [{ name: { like: '_x' } }, [19]], // 🙂 is one character, though two UTF-16 units
  [{ name: { like: '_rger' } }, [17, 18]],
  [{ name: { like: 'snake_case' } }, [9, 10]],
  [{ name: { like: '%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%b' } }, []],
  [{ name: { gt: 'M' } }],
  [{ name: { lt: 'a' } }],
  [{ name: { gte: '\uFFFD' } }, [19, 20]], // code point order: U+1F642 sorts after U+FFFD
  [{ name: { in: ['Lamp', 'lamp', 'nope'] } }, [1, 2, 26]],
  [{ name: { nin: ['Lamp', 'lamp'] } }],
  [{ active: true }],
  [{ active: false }],
  [{ active: { ne: true } }],
  [{ active: { in: [true] } }],
  [{ createdAt: { gte: '2024-03-01' } }],
  [{ createdAt: { lt: sqliteDatetime(at(7)).replace(' ', 'T') + 'Z' } }, [1, 2, 3, 4, 5, 6]],
  [{ createdAt: at(7).toISOString() }, [7]],
  [{ createdAt: { in: [at(3).getTime(), at(9).toISOString()] } }, [3, 9]],
  [{ createdAt: { gt: at(28).getTime() - 1, lte: at(29).getTime() } }, [28, 29]],
  [{ $or: [{ status: 'open' }, { price: { lt: 10 } }] }],
  [{ $and: [{ $or: [{ name: { ilike: '%lamp%' } }, { status: 'closed' }] }, { active: true }] }],
  [{ $or: [{ $and: [{ $or: [{ price: { gt: 40 } }, { name: { like: '%a%' } }] }, { active: false }] }, { status: null }] }],
  [{ status: 'open', price: { gte: 10, lt: 100 }, name: { ilike: '%lamp%' } }, [1, 2, 29, 30]],
  [{ id: { nin: [1, 2, 3] }, status: { nin: ['open'] } }],
];


// [q, ids a search over name and status must return]
export const searches: Array<[string, number[]]> = [
    ['lamp', [1, 2, 3, 4, 22, 23, 26, 29, 30]],
    ['LAMP', [1, 2, 3, 4, 22, 23, 26, 29, 30]],
    ['%', [7, 27]],
    ['_', [9, 28]],
    ['\\', [11, 12, 29]],
    ['[', [15]],
    ['open', [1, 2, 4, 6, 9, 11, 13, 14, 16, 17, 19, 20, 22, 23, 25, 27, 28, 29, 30]], // status too
    ['zzz', []],
  ];
