//! Meshboard's measurements of Automerge (issue 3, "Automerge's own costs, measured here").
//!
//! The same code runs natively (`cargo run --release -p bench -- automerge`) and in V8 (the
//! `wasm_automerge` test, see BENCHMARKS.md); results go in BENCHMARKS.md.
//!
//! Data: the `automerge-paper` editing trace (Martin Kleppmann, `automerge-perf`; collected in
//! Joseph Gentle's `editing-traces`), CC BY 4.0, in `traces/` (see its README).

pub mod measure;
pub mod table;
pub mod trace;

pub use measure::{Bench, Clock, Options};
pub use trace::Trace;

#[cfg(test)]
mod tests {
    use super::*;

    /// The first 2,000 transactions of the real trace, replayed into a board, give the same text
    /// as the reference splice.
    #[test]
    fn replaying_a_prefix_of_the_trace_reproduces_its_text() {
        let trace = Trace::from_file(&Trace::default_path()).unwrap();
        assert_eq!(trace.txns.len(), 259_778);
        assert_eq!(trace.text_after(usize::MAX).unwrap(), trace.end_content);
        let mut note = measure::Note::new(1).unwrap();
        assert_eq!(note.replay(&trace, 2_000).unwrap(), 2_000);
        let text = measure::text_of(note.board.doc()).unwrap();
        assert_eq!(text, trace.text_after(2_000).unwrap());
    }

    /// Sync between a small note and a new board converges and goes quiet.
    #[test]
    fn sync_converges_and_goes_quiet() {
        use crdt::automerge::sync::State;
        let mut a = measure::Note::new(1).unwrap();
        let mut b = measure::new_board(2).unwrap();
        for c in ["a", "b", "c"] {
            a.keystroke(c).unwrap();
        }
        let (mut sa, mut sb) = (State::new(), State::new());
        let wire =
            measure::sync_until_quiet(a.board.doc_mut(), &mut sa, b.doc_mut(), &mut sb).unwrap();
        assert!(wire.messages >= 2);
        assert_eq!(measure::text_of(b.doc()).unwrap(), "abc");
        let again =
            measure::sync_until_quiet(a.board.doc_mut(), &mut sa, b.doc_mut(), &mut sb).unwrap();
        assert_eq!(again.messages, 0);
    }
}
