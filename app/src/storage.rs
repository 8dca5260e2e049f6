//! Boards in IndexedDB: each board's changes as incremental chunks (Automerge's incremental
//! save), compacted now and then into one snapshot in a single transaction, and one small record
//! per board for the home page's list.
//!
//! Chunk keys are `[room, writer, n]`: `writer` is random per page, so two tabs of one board
//! never collide, and the whole board is the key range from `[room]` to `[room, []]`. Chunks can
//! be loaded in any order (Automerge holds back changes until their dependencies arrive).

use crate::browser::BrowserError;
use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbDatabase, IdbKeyRange, IdbObjectStoreParameters, IdbTransactionMode};

use crate::browser::idb;

const DB_NAME: &str = "meshboard";
const DB_VERSION: u32 = 1;
const CHUNKS: &str = "chunks";
const BOARDS: &str = "boards";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StorageError {
    #[error("Storage is not available: {0}")]
    Unavailable(BrowserError),
    #[error("Could not save: {0}")]
    Write(BrowserError),
    #[error("Could not read saved boards: {0}")]
    Read(BrowserError),
}

/// What the home page lists about a board.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardRecord {
    pub room: String,
    /// The link fragment; kept only in this browser, so that the list can open the board.
    pub secret: String,
    pub title: String,
    /// When this browser last saw the board change (ms since the epoch).
    pub updated_ms: f64,
}

impl BoardRecord {
    fn to_js(&self) -> Result<JsValue, JsValue> {
        let o = js_sys::Object::new();
        Reflect::set(&o, &"room".into(), &self.room.as_str().into())?;
        Reflect::set(&o, &"secret".into(), &self.secret.as_str().into())?;
        Reflect::set(&o, &"title".into(), &self.title.as_str().into())?;
        Reflect::set(&o, &"updated".into(), &self.updated_ms.into())?;
        Ok(o.into())
    }

    /// `None` for a record that does not have the expected shape (it is skipped, not fatal).
    fn from_js(v: &JsValue) -> Option<Self> {
        let s = |k: &str| Reflect::get(v, &k.into()).ok()?.as_string();
        Some(BoardRecord {
            room: s("room")?,
            secret: s("secret")?,
            title: s("title").unwrap_or_default(),
            updated_ms: Reflect::get(v, &"updated".into())
                .ok()?
                .as_f64()
                .unwrap_or(0.0),
        })
    }
}

fn upgrade(db: &IdbDatabase) -> Result<(), JsValue> {
    let names = db.object_store_names();
    if !names.contains(CHUNKS) {
        db.create_object_store(CHUNKS)?;
    }
    if !names.contains(BOARDS) {
        let params = IdbObjectStoreParameters::new();
        params.set_key_path(&"room".into());
        db.create_object_store_with_optional_parameters(BOARDS, &params)?;
    }
    Ok(())
}

fn board_range(room: &str) -> Result<IdbKeyRange, JsValue> {
    let lower = Array::of1(&room.into());
    let upper = Array::of2(&room.into(), &Array::new());
    IdbKeyRange::bound(&lower, &upper)
}

/// The key of one chunk.
pub fn chunk_key(room: &str, writer: &str, n: u32) -> JsValue {
    Array::of3(&room.into(), &writer.into(), &n.into()).into()
}

pub struct Store {
    db: IdbDatabase,
}

fn js_err(e: JsValue) -> BrowserError {
    BrowserError::from(e)
}

impl Store {
    pub async fn open() -> Result<Store, StorageError> {
        let db = idb::open(DB_NAME, DB_VERSION, upgrade)
            .await
            .map_err(StorageError::Unavailable)?;
        Ok(Store { db })
    }

    fn tx(
        &self,
        stores: &[&str],
        mode: IdbTransactionMode,
    ) -> Result<web_sys::IdbTransaction, BrowserError> {
        let names: Array = stores.iter().map(|s| JsValue::from_str(s)).collect();
        self.db
            .transaction_with_str_sequence_and_mode(&names, mode)
            .map_err(js_err)
    }

    /// Every stored chunk of a board with its key. A value that is not bytes is reported as
    /// `None` so the caller can warn about it and go on.
    pub async fn load(&self, room: &str) -> Result<Vec<(JsValue, Option<Vec<u8>>)>, StorageError> {
        let read = async {
            let tx = self.tx(&[CHUNKS], IdbTransactionMode::Readonly)?;
            let store = tx.object_store(CHUNKS).map_err(js_err)?;
            let range = board_range(room).map_err(js_err)?;
            let keys = store.get_all_keys_with_key(&range).map_err(js_err)?;
            let values = store.get_all_with_key(&range).map_err(js_err)?;
            let keys: Array = idb::request(keys)
                .await?
                .dyn_into()
                .map_err(|_| BrowserError::Unexpected("keys that are not a list"))?;
            let values: Array = idb::request(values)
                .await?
                .dyn_into()
                .map_err(|_| BrowserError::Unexpected("values that are not a list"))?;
            Ok::<_, BrowserError>(
                keys.iter()
                    .zip(values.iter())
                    .map(|(k, v)| (k, v.dyn_into::<Uint8Array>().ok().map(|a| a.to_vec())))
                    .collect(),
            )
        };
        read.await.map_err(StorageError::Read)
    }

    /// Write one chunk and the board's record in one transaction; done when it has committed.
    pub async fn append(
        &self,
        record: &BoardRecord,
        key: &JsValue,
        chunk: &[u8],
    ) -> Result<(), StorageError> {
        self.write(record, &[], key, chunk).await
    }

    /// Replace the chunks `replaces` with one snapshot, in one transaction: if it fails, the
    /// chunks are all still there.
    pub async fn compact(
        &self,
        record: &BoardRecord,
        replaces: &[JsValue],
        key: &JsValue,
        snapshot: &[u8],
    ) -> Result<(), StorageError> {
        self.write(record, replaces, key, snapshot).await
    }

    async fn write(
        &self,
        record: &BoardRecord,
        delete: &[JsValue],
        key: &JsValue,
        bytes: &[u8],
    ) -> Result<(), StorageError> {
        let write = async {
            let tx = self.tx(&[CHUNKS, BOARDS], IdbTransactionMode::Readwrite)?;
            let chunks = tx.object_store(CHUNKS).map_err(js_err)?;
            for old in delete {
                chunks.delete(old).map_err(js_err)?;
            }
            chunks
                .put_with_key(&Uint8Array::from(bytes), key)
                .map_err(js_err)?;
            let boards = tx.object_store(BOARDS).map_err(js_err)?;
            boards
                .put(&record.to_js().map_err(js_err)?)
                .map_err(js_err)?;
            idb::committed(tx).await
        };
        write.await.map_err(StorageError::Write)
    }

    /// All boards this browser has, newest first.
    pub async fn list(&self) -> Result<Vec<BoardRecord>, StorageError> {
        let read = async {
            let tx = self.tx(&[BOARDS], IdbTransactionMode::Readonly)?;
            let all = tx
                .object_store(BOARDS)
                .map_err(js_err)?
                .get_all()
                .map_err(js_err)?;
            let all: Array = idb::request(all)
                .await?
                .dyn_into()
                .map_err(|_| BrowserError::Unexpected("records that are not a list"))?;
            let mut boards: Vec<BoardRecord> = all
                .iter()
                .filter_map(|v| BoardRecord::from_js(&v))
                .collect();
            boards.sort_by(|a, b| b.updated_ms.total_cmp(&a.updated_ms));
            Ok::<_, BrowserError>(boards)
        };
        read.await.map_err(StorageError::Read)
    }

    /// Remove a board's record and all of its chunks.
    pub async fn delete(&self, room: &str) -> Result<(), StorageError> {
        let write = async {
            let tx = self.tx(&[CHUNKS, BOARDS], IdbTransactionMode::Readwrite)?;
            let range: JsValue = board_range(room).map_err(js_err)?.into();
            tx.object_store(CHUNKS)
                .map_err(js_err)?
                .delete(&range)
                .map_err(js_err)?;
            tx.object_store(BOARDS)
                .map_err(js_err)?
                .delete(&room.into())
                .map_err(js_err)?;
            idb::committed(tx).await
        };
        write.await.map_err(StorageError::Write)
    }
}
