use super::*;
use crate::hosted::Hosted;
use crdt::session::PersistPolicy;
use crdt::{Event, WidgetKind};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "meshboard-peer-{name}-{}-{}",
        std::process::id(),
        now_ms()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn secret(n: u8) -> BoardSecret {
    BoardSecret::from_bytes([n; 16])
}

#[test]
fn add_list_remove() {
    let dir = temp_dir("alr");
    let store = Store::open(&dir).unwrap();
    assert!(store.add(&secret(1)).unwrap());
    assert!(!store.add(&secret(1)).unwrap(), "twice is once");
    assert!(store.add(&secret(2)).unwrap());
    let ids: Vec<_> = store.list().unwrap().into_iter().map(|b| b.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&BoardId::of(&secret(2))));
    assert!(store.remove(&BoardId::of(&secret(1))).unwrap());
    assert!(!store.remove(&BoardId::of(&secret(1))).unwrap());
    assert_eq!(store.list().unwrap().len(), 1);
    // a second process (here: a second connection) sees what the first committed
    let other = Store::open(&dir).unwrap();
    let v = other.data_version().unwrap();
    store.add(&secret(3)).unwrap();
    assert_ne!(other.data_version().unwrap(), v);
    assert_eq!(other.list().unwrap().len(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the data directory is private");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pieces_append_and_compact_in_order() {
    let dir = temp_dir("pieces");
    let store = Store::open(&dir).unwrap();
    let id = BoardId::of(&secret(1));
    assert!(matches!(
        store.append(&id, b"x"),
        Err(StoreError::UnknownBoard(_))
    ));
    store.add(&secret(1)).unwrap();
    store.append(&id, b"a").unwrap();
    store.append(&id, b"b").unwrap();
    let seq = store.compact(&id, b"ab").unwrap();
    store.append(&id, b"c").unwrap();
    let pieces = store.pieces(&id).unwrap();
    assert_eq!(pieces.len(), 2);
    assert_eq!(pieces[0].seq, seq);
    assert!(pieces[0].whole);
    assert_eq!(pieces[1].bytes, b"c");
    store.remove(&id).unwrap();
    assert!(store.pieces(&id).unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_board_round_trips_through_storage_with_compaction() {
    let dir = temp_dir("roundtrip");
    let store = Store::open(&dir).unwrap();
    store.add(&secret(4)).unwrap();
    let id = BoardId::of(&secret(4));
    let policy = PersistPolicy {
        compact_after_pieces: 4,
        idle_ms: 0,
        ..PersistPolicy::default()
    };
    let mut h = Hosted::load(&store, &id, policy).unwrap();
    let w = h.board_mut().add_widget(WidgetKind::Tasks).unwrap();
    for i in 0..20 {
        h.board_mut().add_task(&w, &format!("task {i}")).unwrap();
        let turn = h.handle(&store, Event::LocalChange, 1000 + i);
        assert!(turn.store_error.is_none());
        assert!(h.is_saved());
    }
    assert!(store.pieces(&id).unwrap().len() <= 5, "compacted");
    let mut again = Hosted::load(&store, &id, policy).unwrap();
    let view = again.board_mut().view();
    let texts = task_texts(&view);
    assert_eq!(texts.len(), 20);
    let _ = std::fs::remove_dir_all(&dir);
}

pub(crate) fn task_texts(view: &crdt::BoardView) -> Vec<String> {
    view.widgets
        .iter()
        .flat_map(|w| match &w.body {
            crdt::WidgetBody::Tasks { items } => items.iter().map(|t| t.text.clone()).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Write into the database behind the store's back, as a damaged disk or a hand edit would.
fn raw(dir: &Path, sql: &str, params: impl rusqlite::Params) {
    let conn = Connection::open(dir.join(DB_FILE)).unwrap();
    conn.execute(sql, params).unwrap();
}

#[test]
fn damaged_rows_and_pieces_are_clear_errors() {
    let dir = temp_dir("damaged");
    let store = Store::open(&dir).unwrap();
    store.add(&secret(5)).unwrap();
    let id = BoardId::of(&secret(5));
    let policy = PersistPolicy::default();

    // garbage bytes where a piece should be
    raw(
        &dir,
        "INSERT INTO pieces VALUES (?1, 1, 0, ?2)",
        params![id.as_str(), vec![0x85u8, 0x6f, 0x4a, 0x83, 1, 2, 3]],
    );
    let e = Hosted::load(&store, &id, policy).unwrap_err();
    assert!(matches!(e, StoreError::DamagedPiece { seq: 1, .. }), "{e}");
    assert!(e.to_string().contains("is damaged"), "{e}");

    // a well-formed chunk whose checksum does not match (one byte flipped)
    raw(&dir, "DELETE FROM pieces", []);
    let mut b = crdt::Board::new_random().unwrap();
    b.add_widget(WidgetKind::Note).unwrap();
    b.commit(0);
    let mut bytes = b.doc_mut().save();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    raw(
        &dir,
        "INSERT INTO pieces VALUES (?1, 1, 1, ?2)",
        params![id.as_str(), bytes],
    );
    assert!(matches!(
        Hosted::load(&store, &id, policy),
        Err(StoreError::DamagedPiece { .. })
    ));

    // text where bytes should be
    raw(&dir, "DELETE FROM pieces", []);
    raw(
        &dir,
        "INSERT INTO pieces VALUES (?1, 1, 0, 'hello')",
        [id.as_str()],
    );
    assert!(matches!(
        Hosted::load(&store, &id, policy),
        Err(StoreError::DamagedPiece {
            why: "not bytes",
            ..
        })
    ));

    // a board row whose link is not one, or not its own
    raw(
        &dir,
        "INSERT INTO boards VALUES ('zz', 'not a secret', 0)",
        [],
    );
    let e = store.list().unwrap_err();
    assert!(e.to_string().contains("holds no valid link"), "{e}");
    raw(&dir, "DELETE FROM boards WHERE id = 'zz'", []);
    raw(
        &dir,
        "INSERT INTO boards VALUES ('zz', ?1, 0)",
        [secret(6).to_fragment()],
    );
    let e = store.list().unwrap_err();
    assert!(e.to_string().contains("not named by its link"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = temp_dir("notdb");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(DB_FILE), vec![0x42u8; 8192]).unwrap();
    let e = Store::open(&dir).unwrap_err();
    assert!(matches!(e, StoreError::Sqlite(_)), "{e}");
    assert!(
        e.to_string().to_lowercase().contains("not a database"),
        "{e}"
    );

    // a newer schema is refused, not misread
    let dir2 = temp_dir("newer");
    drop(Store::open(&dir2).unwrap());
    raw(&dir2, "PRAGMA user_version = 99", []);
    assert!(matches!(
        Store::open(&dir2),
        Err(StoreError::NewerSchema { found: 99, .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}

#[test]
fn a_database_damaged_in_the_middle_is_reported_not_a_panic() {
    let dir = temp_dir("midcorrupt");
    let store = Store::open(&dir).unwrap();
    for i in 0..50u8 {
        store.add(&secret(i)).unwrap();
        store
            .append(&BoardId::of(&secret(i)), &vec![i; 3000])
            .unwrap();
    }
    drop(store);
    // checkpoint the WAL into the main file, then overwrite pages in the middle of it
    let conn = Connection::open(dir.join(DB_FILE)).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    let path = dir.join(DB_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 8192] {
        *b = 0xa5;
    }
    std::fs::write(&path, bytes).unwrap();
    // whatever SQLite notices, and wherever: an error, never a panic
    let outcome = std::panic::catch_unwind(|| match Store::open(&dir) {
        Err(e) => Some(e.to_string()),
        Ok(store) => {
            let mut errs = Vec::new();
            if let Err(e) = store.check() {
                errs.push(e.to_string());
            }
            if let Ok(list) = store.list() {
                for b in list {
                    if let Err(e) = store.pieces(&b.id) {
                        errs.push(e.to_string());
                    }
                }
            } else {
                errs.push("list".into());
            }
            errs.first().cloned()
        }
    });
    let found = outcome.expect("no panic");
    assert!(found.is_some(), "the damage was noticed");
    let _ = std::fs::remove_dir_all(&dir);
}
