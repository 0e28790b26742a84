/**
 * meta.sqlite: one row per stored vector (row number = position in vectors.f32) with the item's
 * id, kind, metadata and a `deleted` flag, plus an `info` table holding the model identity, the
 * committed row count and the vectors file generation. better-sqlite3 (synchronous).
 *
 * Live items are unique per (kind, id): an exam's image and its note share the imageId.
 *
 * @example
 *   const db = MetaDb.create('/tmp/x/meta.sqlite', { checkpointId: 'c1', modelName: 'm', dim: 4, embeddingSpace: 's' });
 *   db.rowCount(); // 0
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { IndexIdentity, ItemKind, JsonValue, StoredMeta } from './types.js';

export const META_FORMAT_VERSION = 1;

const SCHEMA = `
CREATE TABLE info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
  row        INTEGER PRIMARY KEY,
  id         TEXT NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('image', 'note')),
  patient_id TEXT,
  image_path TEXT,
  note       TEXT,
  icdr       INTEGER,
  sdrg       INTEGER,
  extras     TEXT NOT NULL DEFAULT '{}',
  deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1))
);
CREATE UNIQUE INDEX items_live_key ON items (kind, id) WHERE deleted = 0;
CREATE INDEX items_id ON items (id);
`;

/** A metadata row as stored. */
export interface MetaRow {
  row: number;
  id: string;
  kind: ItemKind;
  meta: StoredMeta;
}

interface SqlItem {
  row: number;
  id: string;
  kind: ItemKind;
  patient_id: string | null;
  image_path: string | null;
  note: string | null;
  icdr: number | null;
  sdrg: number | null;
  extras: string;
}

function toMetaRow(r: SqlItem): MetaRow {
  return {
    row: r.row, id: r.id, kind: r.kind,
    meta: {
      patientId: r.patient_id, imagePath: r.image_path, note: r.note, icdr: r.icdr, sdrg: r.sdrg,
      extras: JSON.parse(r.extras) as { [key: string]: JsonValue },
    },
  };
}

const ITEM_COLS = 'row, id, kind, patient_id, image_path, note, icdr, sdrg, extras';

function prepare(db: Database.Database) {
  return {
    info: db.prepare<[string], { value: string }>('SELECT value FROM info WHERE key = ?'),
    setInfo: db.prepare<[string, string]>('INSERT INTO info (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
    retire: db.prepare<[string, string], { row: number }>('UPDATE items SET deleted = 1 WHERE kind = ? AND id = ? AND deleted = 0 RETURNING row'),
    retireAnyKind: db.prepare<[string], { row: number }>('UPDATE items SET deleted = 1 WHERE id = ? AND deleted = 0 RETURNING row'),
    insert: db.prepare<[number, string, string, string | null, string | null, string | null, number | null, number | null, string]>(
      'INSERT INTO items (row, id, kind, patient_id, image_path, note, icdr, sdrg, extras) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
    live: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM items WHERE deleted = 0'),
    byId: db.prepare<[string], SqlItem>(`SELECT ${ITEM_COLS} FROM items WHERE id = ? AND deleted = 0 ORDER BY kind`),
    byRow: db.prepare<[number], SqlItem>(`SELECT ${ITEM_COLS} FROM items WHERE row = ?`),
    scan: db.prepare<[], [number, string, number]>('SELECT row, kind, deleted FROM items ORDER BY row').raw(),
    liveRows: db.prepare<[], { row: number }>('SELECT row FROM items WHERE deleted = 0 ORDER BY row'),
  };
}
type Statements = ReturnType<typeof prepare>;

export class MetaDb {
  private readonly st: Statements;

  private constructor(readonly path: string, private readonly db: Database.Database) {
    this.st = prepare(db);
  }

  private static connect(path: string, mustExist: boolean): Database.Database {
    const db = new Database(path, { fileMustExist: mustExist });
    // WAL: a reader (the server) keeps reading while a writer commits; FULL: a commit survives power loss.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    return db;
  }

  /** Creates the database with its schema and identity (the caller checks that no index is there). */
  static create(path: string, identity: IndexIdentity): MetaDb {
    const db = MetaDb.connect(path, false);
    const info: [string, string][] = [
      ['formatVersion', String(META_FORMAT_VERSION)], ['checkpointId', identity.checkpointId],
      ['modelName', identity.modelName], ['dim', String(identity.dim)], ['embeddingSpace', identity.embeddingSpace],
      ['rowCount', '0'], ['generation', '0'], ['createdAt', new Date().toISOString()],
    ];
    db.transaction(() => {
      db.exec(SCHEMA);
      const put = db.prepare<[string, string]>('INSERT INTO info (key, value) VALUES (?, ?)');
      for (const [k, v] of info) put.run(k, v);
    })();
    return new MetaDb(path, db);
  }

  /**
   * A read-only connection that writes nothing, not even WAL bookkeeping. SQLite cannot open a
   * WAL-mode file read-only when it may not create the -shm file beside it (a read-only folder):
   * then the file, whose log was checkpointed at the writer's close, is read into memory.
   */
  private static connectReadOnly(path: string): Database.Database {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      return db;
    } catch (e) {
      db.close();
      // SQLITE_READONLY_DIRECTORY, SQLITE_READONLY_CANTINIT, SQLITE_CANTOPEN: the -shm file cannot be made.
      if (!/^SQLITE_(CANTOPEN|READONLY)/.test((e as { code?: string }).code ?? '')) throw e;
    }
    const wal = `${path}-wal`;
    if (existsSync(wal) && statSync(wal).size > 0) {
      throw new Error(`${path}: cannot be opened read-only: its folder is not writable and ${wal} holds commits not yet ` +
        'in the database (the writer did not close); open the index once where it can be written, or copy the folder');
    }
    const bytes = readFileSync(path);
    if (bytes.length >= 20 && bytes[18] === 2 && bytes[19] === 2) bytes[18] = bytes[19] = 1; // WAL -> rollback journal header, in memory only
    return new Database(bytes, { readonly: true });
  }

  /**
   * Opens an existing database and checks that it is a retalign index of a format this build reads.
   * `readOnly`: write nothing (the folder may be read-only); writes through this connection fail.
   */
  static open(path: string, o: { readOnly?: boolean } = {}): MetaDb {
    const db = o.readOnly === true ? MetaDb.connectReadOnly(path) : MetaDb.connect(path, true);
    try {
      const hasInfo = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'info'").get();
      if (hasInfo === undefined) throw new Error(`${path}: no 'info' table: not a retalign index database`);
      const m = new MetaDb(path, db);
      const v = m.infoValue('formatVersion');
      if (v !== String(META_FORMAT_VERSION)) throw new Error(`${path}: format version ${v}, this build reads ${META_FORMAT_VERSION}`);
      return m;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** Changes whenever ANOTHER connection commits (PRAGMA data_version): a cheap staleness check. */
  dataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  private infoValue(key: string): string {
    const r = this.st.info.get(key);
    if (r === undefined) throw new Error(`${this.path}: info table has no '${key}': not a retalign index database`);
    return r.value;
  }

  identity(): IndexIdentity {
    return {
      checkpointId: this.infoValue('checkpointId'), modelName: this.infoValue('modelName'),
      dim: Number(this.infoValue('dim')), embeddingSpace: this.infoValue('embeddingSpace'),
    };
  }

  /** Rows committed to vectors.f32 (live or deleted). */
  rowCount(): number {
    return Number(this.infoValue('rowCount'));
  }
  setRowCount(n: number): void {
    this.st.setInfo.run('rowCount', String(n));
  }
  generation(): number {
    return Number(this.infoValue('generation'));
  }

  /** Runs fn in a write transaction taken up front (BEGIN IMMEDIATE): one writer at a time. */
  immediate<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** Runs fn in a read transaction: every query in it sees one snapshot (WAL), whatever other writers commit. */
  read<T>(fn: () => T): T {
    return this.db.transaction(fn).deferred();
  }

  /** Marks the live item (kind, id) deleted, or every live item with that id when kind is null; returns their rows. */
  retire(id: string, kind: ItemKind | null): number[] {
    const rows = kind === null ? this.st.retireAnyKind.all(id) : this.st.retire.all(kind, id);
    return rows.map((r) => r.row);
  }

  insert(row: number, id: string, kind: ItemKind, m: StoredMeta): void {
    this.st.insert.run(row, id, kind, m.patientId, m.imagePath, m.note, m.icdr, m.sdrg, JSON.stringify(m.extras));
  }

  liveCount(): number {
    return (this.st.live.get() as { n: number }).n;
  }

  /** Live items with this id (0, 1 or 2: one per kind), image first. */
  liveById(id: string): MetaRow[] {
    return this.st.byId.all(id).map(toMetaRow);
  }

  byRow(row: number): MetaRow {
    const r = this.st.byRow.get(row);
    if (r === undefined) throw new Error(`${this.path}: no item at row ${row}`);
    return toMetaRow(r);
  }

  /** Every row's kind and deleted flag, in row order: fn(row, kind, deleted). */
  scan(fn: (row: number, kind: ItemKind, deleted: boolean) => void): void {
    for (const [row, kind, deleted] of this.st.scan.iterate()) fn(row, kind as ItemKind, deleted === 1);
  }

  /** Row numbers of live items, ascending. */
  liveRows(): number[] {
    return this.st.liveRows.all().map((r) => r.row);
  }

  /**
   * Inside a transaction: drops deleted rows, renumbers live rows 0.. in their old order, and
   * records the new row count and generation. Pairs with vector-file's writeCompacted.
   */
  compactRows(generation: number): number {
    this.db.exec(`
      CREATE TABLE items_new AS SELECT * FROM items WHERE 0;
      DELETE FROM items WHERE deleted = 1;
      INSERT INTO items_new SELECT ROW_NUMBER() OVER (ORDER BY row) - 1, id, kind, patient_id, image_path, note,
        icdr, sdrg, extras, deleted FROM items ORDER BY row;
      DELETE FROM items;
      INSERT INTO items SELECT * FROM items_new;
      DROP TABLE items_new;
    `);
    const n = this.liveCount();
    this.setRowCount(n);
    this.st.setInfo.run('generation', String(generation));
    return n;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
