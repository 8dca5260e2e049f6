//! The peer's database: SQLite (through `rusqlite`, SQLite compiled in), one file in the data
//! directory.
//!
//! Why SQLite and not `redb`: `meshboard-peer add` and `remove` run as their own processes while
//! `run` holds the database open. redb takes an exclusive lock on its file (a second process
//! gets `DatabaseAlreadyOpen`), so the two commands would need a side channel; SQLite in WAL mode
//! lets several processes read and write one file, and `PRAGMA data_version` tells `run` cheaply
//! that another process committed. Its durability (`synchronous = FULL`: a commit returns after
//! the WAL is fsynced) and its recovery after a crash at any point are long proven.
//!
//! Tables: `boards` (the links held: local id and secret) and `pieces` (per board, in order, the
//! incremental Automerge chunks and whole snapshots that `crdt::session::Persister` decides on).
//! An append is one transaction; a compaction deletes a board's pieces and inserts the snapshot
//! in one transaction, so a crash leaves either the old pieces or the new snapshot.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crdt::BoardSecret;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::error::StoreError;
use crate::ids::BoardId;

/// The database file inside the data directory.
pub const DB_FILE: &str = "meshboard-peer.sqlite3";
/// `PRAGMA user_version` of the schema below.
const SCHEMA_VERSION: i64 = 1;
/// The largest piece accepted from storage (a board's snapshot is far smaller).
pub const MAX_PIECE_BYTES: usize = 256 * 1024 * 1024;

/// A board this peer holds.
#[derive(Clone)]
pub struct HeldBoard {
    pub id: BoardId,
    pub secret: BoardSecret,
    pub added_ms: i64,
}

impl std::fmt::Debug for HeldBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never the secret
        write!(f, "HeldBoard({})", self.id)
    }
}

/// One stored piece of a board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPiece {
    pub seq: i64,
    pub whole: bool,
    pub bytes: Vec<u8>,
}

/// The database, shared by the tasks of one process (writes are short; one at a time).
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Store {
    /// Open (or create) the database in `dir`, creating the directory (mode 0700: it holds
    /// board links).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        create_private_dir(dir)?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // WAL: readers and writers in several processes; FULL: a commit is on disk when it returns.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "the database refused WAL mode ({mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version < SCHEMA_VERSION {
            conn.execute_batch(
                "BEGIN IMMEDIATE;
                 CREATE TABLE IF NOT EXISTS boards (
                     id TEXT PRIMARY KEY NOT NULL,
                     secret TEXT NOT NULL,
                     added_ms INTEGER NOT NULL
                 );
                 CREATE TABLE IF NOT EXISTS pieces (
                     board TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
                     seq INTEGER NOT NULL,
                     whole INTEGER NOT NULL,
                     bytes BLOB NOT NULL,
                     PRIMARY KEY (board, seq)
                 ) WITHOUT ROWID;
                 PRAGMA user_version = 1;
                 COMMIT;",
            )?;
        }
        Ok(Store {
            path,
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }

    /// Hold the board of `secret`; `false` if it was held already.
    pub fn add(&self, secret: &BoardSecret) -> Result<bool, StoreError> {
        let id = BoardId::of(secret);
        let n = self.conn()?.execute(
            "INSERT OR IGNORE INTO boards (id, secret, added_ms) VALUES (?1, ?2, ?3)",
            params![id.as_str(), secret.to_fragment(), now_ms()],
        )?;
        Ok(n == 1)
    }

    /// Stop holding a board and delete what is stored of it; `false` if it was not held.
    pub fn remove(&self, id: &BoardId) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM pieces WHERE board = ?1", [id.as_str()])?;
        let n = tx.execute("DELETE FROM boards WHERE id = ?1", [id.as_str()])?;
        tx.commit()?;
        Ok(n == 1)
    }

    /// The boards held, oldest first. A row that does not hold a valid link (or whose id is not
    /// that link's) is an error naming it: the database was damaged or edited by hand.
    pub fn list(&self) -> Result<Vec<HeldBoard>, StoreError> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare("SELECT id, secret, added_ms FROM boards ORDER BY added_ms, id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, secret, added_ms) = row?;
            let shown: String = id.chars().take(40).collect();
            let secret = BoardSecret::parse(&secret).map_err(|e| {
                StoreError::Corrupt(format!("board row {shown:?} holds no valid link: {e}"))
            })?;
            let id = BoardId::parse(&id)
                .filter(|id| *id == BoardId::of(&secret))
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("board row {shown:?} is not named by its link"))
                })?;
            out.push(HeldBoard {
                id,
                secret,
                added_ms,
            });
        }
        Ok(out)
    }

    /// The board `id`, if held.
    pub fn get(&self, id: &BoardId) -> Result<Option<HeldBoard>, StoreError> {
        Ok(self.list()?.into_iter().find(|b| b.id == *id))
    }

    /// Changes whenever another connection (another process) committed something.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()?
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// A board's stored pieces, in order. Sizes are checked before the bytes are read.
    pub fn pieces(&self, id: &BoardId) -> Result<Vec<StoredPiece>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT seq, whole, length(bytes), typeof(bytes) FROM pieces WHERE board = ?1 ORDER BY seq",
        )?;
        let heads = stmt
            .query_map([id.as_str()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(heads.len());
        for (seq, whole, len, kind) in heads {
            let damaged = |why| StoreError::DamagedPiece {
                board: id.clone(),
                seq,
                why,
            };
            if kind != "blob" {
                return Err(damaged("not bytes"));
            }
            if usize::try_from(len).map_or(true, |l| l > MAX_PIECE_BYTES) {
                return Err(damaged("too large"));
            }
            let bytes: Vec<u8> = conn.query_row(
                "SELECT bytes FROM pieces WHERE board = ?1 AND seq = ?2",
                params![id.as_str(), seq],
                |r| r.get(0),
            )?;
            out.push(StoredPiece {
                seq,
                whole: whole != 0,
                bytes,
            });
        }
        Ok(out)
    }

    fn next_seq(tx: &rusqlite::Transaction<'_>, id: &BoardId) -> Result<i64, StoreError> {
        let max: Option<i64> = tx
            .query_row(
                "SELECT max(seq) FROM pieces WHERE board = ?1",
                [id.as_str()],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        Ok(max.unwrap_or(0).saturating_add(1))
    }

    fn ensure_held(tx: &rusqlite::Transaction<'_>, id: &BoardId) -> Result<(), StoreError> {
        let held: Option<i64> = tx
            .query_row("SELECT 1 FROM boards WHERE id = ?1", [id.as_str()], |r| {
                r.get(0)
            })
            .optional()?;
        held.map(|_| ())
            .ok_or_else(|| StoreError::UnknownBoard(id.clone()))
    }

    /// Append changes to a board; durable when this returns `Ok`.
    pub fn append(&self, id: &BoardId, bytes: &[u8]) -> Result<i64, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        Self::ensure_held(&tx, id)?;
        let seq = Self::next_seq(&tx, id)?;
        tx.execute(
            "INSERT INTO pieces (board, seq, whole, bytes) VALUES (?1, ?2, 0, ?3)",
            params![id.as_str(), seq, bytes],
        )?;
        tx.commit()?;
        Ok(seq)
    }

    /// Replace every piece of a board by one whole document; durable when this returns `Ok`.
    pub fn compact(&self, id: &BoardId, whole: &[u8]) -> Result<i64, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        Self::ensure_held(&tx, id)?;
        let seq = Self::next_seq(&tx, id)?;
        tx.execute("DELETE FROM pieces WHERE board = ?1", [id.as_str()])?;
        tx.execute(
            "INSERT INTO pieces (board, seq, whole, bytes) VALUES (?1, ?2, 1, ?3)",
            params![id.as_str(), seq, whole],
        )?;
        tx.commit()?;
        Ok(seq)
    }

    /// `PRAGMA quick_check`: `Ok` if SQLite finds the file sound.
    pub fn check(&self) -> Result<(), StoreError> {
        let result: String = self
            .conn()?
            .query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt(result.chars().take(200).collect()))
        }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::DataDir {
        path: dir.display().to_string(),
        source,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(err)
}

#[cfg(test)]
mod tests;
