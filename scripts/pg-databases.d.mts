/** Creates a database named `<prefix>_<random hex>` on the server of `url` and returns its URL. */
export function createPgDatabase(url: string, prefix: string): Promise<string>;
/** Drops the database at `target` (made by createPgDatabase) through the server of `url`, closing its connections. */
export function dropPgDatabase(url: string, target: string): Promise<void>;
