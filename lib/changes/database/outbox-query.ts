import type { DataSource } from 'typeorm';

/** The rows a statement returned (a SELECT, or an UPDATE … RETURNING), on either driver. */
export async function records<T = Record<string, unknown>>(dataSource: DataSource, sql: string, params: unknown[] = []): Promise<T[]> {
  const runner = dataSource.createQueryRunner();
  try {
    const result = await runner.query(sql, params, true);
    return (result.records ?? []) as T[];
  } finally {
    await runner.release();
  }
}

/** The n-th (from 1) positional placeholder of the DataSource's dialect. */
export function placeholder(dataSource: DataSource, n: number): string {
  return dataSource.options.type === 'postgres' ? `$${n}` : '?';
}
