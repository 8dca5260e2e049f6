//! Target `document_load`: arbitrary and mutated saved documents through the paths the app and
//! the engine load bytes with: `saved::well_formed` then `load_incremental` into an existing board
//! (IndexedDB), `load_incremental` unchecked (another tab's changes), `AutoCommit::load` (a pushed
//! document), and `Change::from_bytes` + `apply_changes` (pushed changes). Properties: no panic;
//! every path returns Ok or Err; a board keeps every change it had; whatever loads renders, saves
//! and loads again to the same heads.

use crdt::automerge::{AutoCommit, Change};
use crdt::saved;
use crdt::Board;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::corpus::{self, corpus};
use crate::mutate::{self, Mutation};

#[derive(Debug, Clone)]
pub enum Source {
    Raw(Vec<u8>),
    /// A real save or change (index into docs then changes), mutated; `fix` recomputes lengths
    /// and checksums afterwards.
    Real {
        index: usize,
        mutations: Vec<Mutation>,
        fix: bool,
    },
    /// Several pieces one after the other, as IndexedDB's records concatenated.
    Concat(Vec<(usize, Vec<Mutation>, bool)>),
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub source: Source,
    /// The board loaded into: 0 a new board, otherwise one of the corpus' boards' saves.
    pub into: usize,
}

fn piece() -> impl Strategy<Value = (usize, Vec<Mutation>, bool)> {
    (
        any::<usize>(),
        mutate::mutations(4),
        prop::bool::weighted(0.7),
    )
}

pub fn plan() -> impl Strategy<Value = Plan> {
    let source = prop_oneof![
        1 => vec(any::<u8>(), 0..200).prop_map(Source::Raw),
        6 => piece().prop_map(|(index, mutations, fix)| Source::Real { index, mutations, fix }),
        2 => vec(piece(), 1..4).prop_map(Source::Concat),
    ];
    (source, any::<usize>()).prop_map(|(source, into)| Plan { source, into })
}

fn real(index: usize, mutations: &[Mutation], fix: bool) -> Vec<u8> {
    let c = corpus();
    let n = c.docs.len() + c.changes.len();
    let i = index % n;
    let base = if i < c.docs.len() {
        &c.docs[i]
    } else {
        &c.changes[i - c.docs.len()]
    };
    let donors: Vec<&[u8]> = c.docs.iter().take(8).map(Vec::as_slice).collect();
    let bytes = mutate::mutated(base, mutations, &donors);
    if fix {
        corpus::fix_chunks(&bytes)
    } else {
        bytes
    }
}

pub fn bytes_of(source: &Source) -> Vec<u8> {
    match source {
        Source::Raw(b) => b.clone(),
        Source::Real {
            index,
            mutations,
            fix,
        } => real(*index, mutations, *fix),
        Source::Concat(pieces) => pieces
            .iter()
            .flat_map(|(i, m, f)| real(*i, m, *f))
            .collect(),
    }
}

/// What loaded is a usable document.
fn usable(doc: &mut AutoCommit) -> Result<(), TestCaseError> {
    let mut board = corpus::board(30);
    *board.doc_mut() = doc.clone();
    let _ = board.view();
    corpus::saves_and_reloads(doc)?;
    Ok(())
}

fn into_board(into: usize, bytes: &[u8], check_first: bool) -> Result<(), TestCaseError> {
    let c = corpus();
    let mut board: Board = if into % 3 < 1 {
        corpus::board(31)
    } else {
        let mut b = corpus::board(31);
        let doc = &c.docs[into % c.docs.len()];
        b.doc_mut().load_incremental(doc).unwrap();
        b
    };
    let before = board.heads();
    if check_first && !saved::well_formed(bytes) {
        return Ok(());
    }
    let result = board.doc_mut().load_incremental(bytes);
    let doc = board.doc_mut();
    for h in &before {
        prop_assert!(
            doc.get_change_by_hash(h).is_some(),
            "lost change {} ({:?})",
            h,
            result
        );
    }
    usable(board.doc_mut())
}

pub fn check(plan: Plan) -> Result<(), TestCaseError> {
    let bytes = bytes_of(&plan.source);
    // the app's path for saved records, and for another tab's changes
    into_board(plan.into, &bytes, true)?;
    into_board(plan.into, &bytes, false)?;
    // the engine's path for a pushed document
    if let Ok(mut doc) = AutoCommit::load(&bytes) {
        usable(&mut doc)?;
    }
    // and for pushed changes
    if let Ok(change) = Change::from_bytes(bytes.clone()) {
        let mut board = corpus::board(32);
        let before = board.heads();
        let _ = board.doc_mut().apply_changes([change]);
        let doc = board.doc_mut();
        for h in &before {
            prop_assert!(doc.get_change_by_hash(h).is_some());
        }
        usable(board.doc_mut())?;
    }
    Ok(())
}
