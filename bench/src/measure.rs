//! The Automerge measurements of issue 3 ("Automerge's own costs, measured here"), the same code
//! natively and in wasm: only the clock and the log differ.
//!
//! The trace is replayed into the text of one note of a [`Board`], one Automerge change per trace
//! transaction (the splices go to the document directly, then one commit), and then the costs a
//! board pays for that note are measured: save and load, a cold join, one remote keystroke, one
//! keystroke through the sync protocol, and applying the whole history remotely.

use anyhow::{bail, ensure, Context, Result};
use crdt::automerge::sync::{self, SyncDoc};
use crdt::automerge::transaction::Transactable;
use crdt::automerge::{ActorId, AutoCommit, Change, ObjId, ObjType, ReadDoc, Value, ROOT};
use crdt::{Board, WidgetKind};

use crate::table::{bytes, count, ms, rate, Row, Stats};
use crate::trace::Trace;

/// Milliseconds from an arbitrary origin (`Instant` natively, `performance.now()` in a browser).
pub trait Clock {
    fn now_ms(&self) -> f64;
}

/// What to measure and how often.
#[derive(Debug, Clone)]
pub struct Options {
    /// Transactions of the trace to replay (all by default).
    pub txns: usize,
    /// Remote keystrokes timed one by one (`load_incremental` and `apply_changes`).
    pub keystrokes: usize,
    /// Keystrokes sent through a full sync round trip between caught-up peers.
    pub sync_keystrokes: usize,
    /// Batch size of the `apply_changes` bulk measurement.
    pub batch: usize,
    /// Also time `load_incremental(save())` into a board that already has the genesis change
    /// (the slow way for a joiner to take a snapshot).
    pub snapshot_into_board: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            txns: usize::MAX,
            keystrokes: 200,
            sync_keystrokes: 20,
            batch: 1000,
            snapshot_into_board: true,
        }
    }
}

/// A board with one note, and that note's text object.
pub struct Note {
    pub board: Board,
    pub text: ObjId,
    /// The time of the last commit, seconds since the epoch.
    pub time: i64,
}

/// The text object of the first widget of the board in `doc`.
pub fn note_text(doc: &AutoCommit) -> Result<ObjId> {
    let widgets = match doc.get(ROOT, "widgets")? {
        Some((Value::Object(ObjType::List), id)) => id,
        _ => bail!("the board has no widget list"),
    };
    let widget = match doc.get(&widgets, 0)? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => bail!("the board has no first widget"),
    };
    match doc.get(&widget, "text")? {
        Some((Value::Object(ObjType::Text), id)) => Ok(id),
        _ => bail!("the first widget is not a note"),
    }
}

/// The text of the board's note.
pub fn text_of(doc: &AutoCommit) -> Result<String> {
    Ok(doc.text(note_text(doc)?)?)
}

/// A new board with only the genesis change, as a peer that joins has before it syncs.
pub fn new_board(author: u8) -> Result<Board> {
    Ok(Board::new(ActorId::from([author; 16]))?)
}

impl Note {
    /// A new board (actor `[author; 16]`) with one empty note, committed.
    pub fn new(author: u8) -> Result<Note> {
        let mut board = Board::new(ActorId::from([author; 16]))?;
        board.add_widget(WidgetKind::Note)?;
        board.commit(0);
        let text = note_text(board.doc())?;
        Ok(Note {
            board,
            text,
            time: 0,
        })
    }

    /// Replay the first `n` transactions of `trace`, one change each; returns the changes made.
    pub fn replay(&mut self, trace: &Trace, n: usize) -> Result<usize> {
        let mut changes = 0;
        for txn in trace.txns.iter().take(n) {
            let time = txn.epoch_seconds().unwrap_or(self.time);
            for crate::trace::Patch(pos, deleted, inserted) in &txn.patches {
                let deleted = isize::try_from(*deleted)?;
                self.board
                    .doc_mut()
                    .splice_text(&self.text, *pos, deleted, inserted)?;
            }
            if self.board.commit(time).is_some() {
                changes += 1;
            }
            self.time = time;
        }
        Ok(changes)
    }

    /// Type `s` at the end of the note as one change; returns that change's bytes (what goes on
    /// the wire when a change is sent on its own).
    pub fn keystroke(&mut self, s: &str) -> Result<Vec<u8>> {
        let len = self.board.doc().length(&self.text);
        self.board.doc_mut().splice_text(&self.text, len, 0, s)?;
        self.time += 1;
        self.board
            .commit(self.time)
            .context("the keystroke made no change")?;
        let mut change = self
            .board
            .doc_mut()
            .get_last_local_change()
            .cloned()
            .context("no local change")?;
        Ok(change.bytes().into_owned())
    }
}

/// What one run of the sync protocol put on the wire, and where the time went.
#[derive(Debug, Default, Clone)]
pub struct Wire {
    pub bytes: usize,
    pub messages: usize,
    /// Size of every message, in the order sent.
    pub sizes: Vec<usize>,
    /// Time in `receive_sync_message` (both sides; zero unless a clock was given).
    pub receive_ms: f64,
}

const MAX_SYNC_ROUNDS: usize = 10_000;

struct NoClock;

impl Clock for NoClock {
    fn now_ms(&self) -> f64 {
        0.0
    }
}

/// Run the sync protocol between `a` and `b` until neither has anything to send; every message
/// is encoded and decoded as it would be on a real link.
pub fn sync_until_quiet(
    a: &mut AutoCommit,
    sa: &mut sync::State,
    b: &mut AutoCommit,
    sb: &mut sync::State,
) -> Result<Wire> {
    sync_until_quiet_timed(a, sa, b, sb, &NoClock)
}

/// [`sync_until_quiet`], also timing the `receive_sync_message` calls with `clock`.
pub fn sync_until_quiet_timed(
    a: &mut AutoCommit,
    sa: &mut sync::State,
    b: &mut AutoCommit,
    sb: &mut sync::State,
    clock: &dyn Clock,
) -> Result<Wire> {
    let mut wire = Wire::default();
    for _ in 0..MAX_SYNC_ROUNDS {
        let a_to_b = send(a, sa, b, sb, &mut wire, clock)?;
        let b_to_a = send(b, sb, a, sa, &mut wire, clock)?;
        if !a_to_b && !b_to_a {
            return Ok(wire);
        }
    }
    bail!("the sync protocol did not go quiet after {MAX_SYNC_ROUNDS} rounds")
}

/// One message from `from` to `to`, if `from` has one; whether it had.
fn send(
    from: &mut AutoCommit,
    from_state: &mut sync::State,
    to: &mut AutoCommit,
    to_state: &mut sync::State,
    wire: &mut Wire,
    clock: &dyn Clock,
) -> Result<bool> {
    let Some(message) = from.sync().generate_sync_message(from_state) else {
        return Ok(false);
    };
    let encoded = message.encode();
    wire.bytes += encoded.len();
    wire.messages += 1;
    wire.sizes.push(encoded.len());
    let message = sync::Message::decode(&encoded)?;
    let start = clock.now_ms();
    to.sync().receive_sync_message(to_state, message)?;
    wire.receive_ms += clock.now_ms() - start;
    Ok(true)
}

/// How many of the durations (in ms) exceed 1 ms.
fn over_1ms(sample: &[f64]) -> usize {
    sample.iter().filter(|&&t| t > 1.0).count()
}

/// The index of the largest duration.
fn slowest(sample: &[f64]) -> usize {
    (0..sample.len())
        .max_by(|&i, &j| sample[i].total_cmp(&sample[j]))
        .unwrap_or(0)
}

/// Message sizes, e.g. "12 B + 129.2 KB + 8 B".
fn sizes(sizes: &[usize]) -> String {
    sizes
        .iter()
        .map(|&n| bytes(n))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The measurements, collecting rows of the result table and logging progress.
pub struct Bench<'a> {
    clock: &'a dyn Clock,
    log: &'a dyn Fn(&str),
    pub rows: Vec<Row>,
}

impl<'a> Bench<'a> {
    pub fn new(clock: &'a dyn Clock, log: &'a dyn Fn(&str)) -> Self {
        Bench {
            clock,
            log,
            rows: Vec::new(),
        }
    }

    fn time<T>(&self, f: impl FnOnce() -> T) -> (T, f64) {
        let start = self.clock.now_ms();
        let out = f();
        (out, self.clock.now_ms() - start)
    }

    fn row(&mut self, what: impl Into<String>, value: impl Into<String>) {
        let row = Row {
            what: what.into(),
            value: value.into(),
        };
        (self.log)(&format!("{}: {}", row.what, row.value));
        self.rows.push(row);
    }

    /// Everything, in an order that keeps at most three copies of the large document alive.
    pub fn run(&mut self, trace: &Trace, opts: &Options) -> Result<()> {
        let n = opts.txns.min(trace.txns.len());
        let mut full = Note::new(1)?;
        let (changes, t) = self.time(|| full.replay(trace, n));
        let changes = changes?;
        let text = text_of(full.board.doc())?;
        let expected = trace.text_after(n)?;
        ensure!(text == expected, "the replayed note differs from the trace");
        let total_changes = full.board.doc_mut().get_changes(&[]).len();
        self.row(
            "trace replayed into one note",
            format!(
                "{} transactions → {} changes ({} in the doc with the board's own 2); text of {} \
                 chars equals the trace's",
                count(n as f64),
                count(changes as f64),
                count(total_changes as f64),
                count(text.chars().count() as f64)
            ),
        );
        self.row(
            "local replay (splice_text + commit per transaction)",
            format!("{} ({} changes/s)", ms(t), rate(changes as f64, t)),
        );

        // save / load
        let (saved, t) = self.time(|| full.board.doc_mut().save());
        self.row("save()", format!("{}, {}", bytes(saved.len()), ms(t)));
        let save_ms = t;
        let (loaded, t) = self.time(|| AutoCommit::load(&saved));
        let mut loaded = loaded?;
        ensure!(text_of(&loaded)? == text, "load() changed the text");
        self.row("load() of save()", ms(t));
        let load_ms = t;

        // cold join by snapshot
        self.row(
            "cold join via snapshot: save() sent, load() on the joiner",
            format!(
                "{} on the wire (1.00× save()), {} (save {} + load {})",
                bytes(saved.len()),
                ms(save_ms + load_ms),
                ms(save_ms),
                ms(load_ms)
            ),
        );
        if opts.snapshot_into_board {
            let mut joiner = new_board(2)?;
            let (r, t) = self.time(|| joiner.doc_mut().load_incremental(&saved));
            r?;
            ensure!(text_of(joiner.doc())? == text, "snapshot join differs");
            self.row(
                "cold join via snapshot, load_incremental(save()) into a new board (has genesis)",
                ms(t),
            );
        }

        // bulk remote apply
        let all: Vec<Vec<u8>> = full
            .board
            .doc_mut()
            .get_changes(&[])
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        let concatenated: Vec<u8> = all.concat();
        self.row(
            "all changes, encoded one by one (sum of change sizes)",
            format!(
                "{} ({:.0} bytes/change, {:.1}× save())",
                bytes(concatenated.len()),
                concatenated.len() as f64 / all.len() as f64,
                concatenated.len() as f64 / saved.len() as f64
            ),
        );
        {
            let mut replica = new_board(3)?;
            let (r, t) = self.time(|| replica.doc_mut().load_incremental(&concatenated));
            r?;
            ensure!(text_of(replica.doc())? == text, "bulk apply differs");
            self.row(
                "bulk remote apply: load_incremental(all changes concatenated) into a new board",
                format!("{} ({} changes/s)", ms(t), rate(all.len() as f64, t)),
            );
        }
        {
            let mut replica = new_board(3)?;
            let (r, t) = self.time(|| -> Result<()> {
                for batch in all.chunks(opts.batch.max(1)) {
                    let changes = batch
                        .iter()
                        .map(|b| Change::try_from(b.as_slice()))
                        .collect::<Result<Vec<_>, _>>()?;
                    replica.doc_mut().apply_changes(changes)?;
                }
                Ok(())
            });
            r?;
            ensure!(text_of(replica.doc())? == text, "bulk apply differs");
            self.row(
                format!(
                    "bulk remote apply: apply_changes in batches of {} (decoding included)",
                    opts.batch
                ),
                format!("{} ({} changes/s)", ms(t), rate(all.len() as f64, t)),
            );
        }
        drop(all);
        drop(concatenated);

        // one remote keystroke, sent as its change bytes
        {
            let mut other = AutoCommit::load(&saved)?;
            let (mut size, mut li, mut ac) = (Vec::new(), Vec::new(), Vec::new());
            for i in 0..opts.keystrokes {
                let change = full.keystroke(if i % 2 == 0 { "x" } else { "y" })?;
                size.push(change.len() as f64);
                let (r, t) = self.time(|| loaded.load_incremental(&change));
                r?;
                li.push(t);
                let (r, t) = self.time(|| -> Result<()> {
                    let c = Change::try_from(change.as_slice())?;
                    other.apply_changes([c])?;
                    Ok(())
                });
                r?;
                ac.push(t);
            }
            // The same again, timed as a whole (one call per keystroke, back to back): a mean
            // that the browser's coarse performance.now() (5 µs steps or worse) cannot distort.
            let changes = (0..opts.keystrokes)
                .map(|i| full.keystroke(if i % 2 == 0 { "x" } else { "y" }))
                .collect::<Result<Vec<_>>>()?;
            let per = |t: f64| ms(t / changes.len().max(1) as f64);
            let (r, li_all) = self.time(|| -> Result<()> {
                for change in &changes {
                    loaded.load_incremental(change)?;
                }
                Ok(())
            });
            r?;
            let (r, ac_all) = self.time(|| -> Result<()> {
                for change in &changes {
                    other.apply_changes([Change::try_from(change.as_slice())?])?;
                }
                Ok(())
            });
            r?;
            let text = text_of(full.board.doc())?;
            ensure!(
                text_of(&loaded)? == text,
                "load_incremental replica differs"
            );
            ensure!(text_of(&other)? == text, "apply_changes replica differs");
            let size = Stats::of(&size);
            self.row(
                format!(
                    "one remote keystroke: change size (median of {})",
                    opts.keystrokes
                ),
                format!(
                    "{} (min {}, max {})",
                    bytes(size.median as usize),
                    size.min,
                    size.max
                ),
            );
            self.row(
                "one remote keystroke: load_incremental(change) on the other replica",
                format!(
                    "{}, {} of {} over 1 ms (slowest: #{}); mean of {} back to back {}",
                    Stats::of(&li).ms(),
                    over_1ms(&li),
                    li.len(),
                    slowest(&li),
                    changes.len(),
                    per(li_all)
                ),
            );
            self.row(
                "one remote keystroke: apply_changes(decoded change) on the other replica",
                format!(
                    "{}, {} of {} over 1 ms (slowest: #{}); mean of {} back to back {}",
                    Stats::of(&ac).ms(),
                    over_1ms(&ac),
                    ac.len(),
                    slowest(&ac),
                    changes.len(),
                    per(ac_all)
                ),
            );
        }
        drop(loaded);

        // cold join by the sync protocol from a document with no changes at all: if the joiner
        // speaks first, 0.6.1 answers with the whole document (save()) in one v2 message; if the
        // full peer speaks first, it has already responded and sends the changes one by one.
        for joiner_first in [true, false] {
            let mut empty = AutoCommit::new();
            let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
            let (wire, t) = self.time(|| {
                if joiner_first {
                    sync_until_quiet(&mut empty, &mut sb, full.board.doc_mut(), &mut sa)
                } else {
                    sync_until_quiet(full.board.doc_mut(), &mut sa, &mut empty, &mut sb)
                }
            });
            let wire = wire?;
            ensure!(
                text_of(&empty)? == text_of(full.board.doc())?,
                "sync join differs"
            );
            self.row(
                format!(
                    "cold join via the plain sync protocol, joiner has no changes at all \
                     (empty AutoCommit), {} speaks first",
                    if joiner_first { "joiner" } else { "full peer" }
                ),
                format!(
                    "{} on the wire in {} messages ({}) ({:.2}× save()), {}",
                    bytes(wire.bytes),
                    wire.messages,
                    sizes(&wire.sizes),
                    wire.bytes as f64 / saved.len() as f64,
                    ms(t)
                ),
            );
        }

        // cold join by the sync protocol, then keystrokes through it
        {
            let mut joiner = new_board(2)?;
            let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
            let (wire, t) = self.time(|| {
                sync_until_quiet(full.board.doc_mut(), &mut sa, joiner.doc_mut(), &mut sb)
            });
            let wire = wire?;
            ensure!(
                text_of(joiner.doc())? == text_of(full.board.doc())?,
                "sync join differs"
            );
            self.row(
                "cold join via the plain sync protocol, joiner is a new board (has the genesis change)",
                format!(
                    "{} on the wire in {} messages ({}) ({:.1}× save()), {}",
                    bytes(wire.bytes),
                    wire.messages,
                    sizes(&wire.sizes),
                    wire.bytes as f64 / saved.len() as f64,
                    ms(t)
                ),
            );
            self.sync_keystrokes(
                "one keystroke via a sync round trip, caught-up peers, this note",
                &mut full,
                &mut sa,
                &mut joiner,
                &mut sb,
                opts.sync_keystrokes,
            )?;
        }
        drop(full);

        // the same on a tiny board
        {
            let mut tiny = Note::new(1)?;
            for c in "hello".chars() {
                tiny.keystroke(&c.to_string())?;
            }
            let mut peer = new_board(2)?;
            let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
            sync_until_quiet(tiny.board.doc_mut(), &mut sa, peer.doc_mut(), &mut sb)?;
            self.sync_keystrokes(
                "same on a tiny board (one note of 5 changes)",
                &mut tiny,
                &mut sa,
                &mut peer,
                &mut sb,
                opts.sync_keystrokes.max(20),
            )?;
        }
        Ok(())
    }

    fn sync_keystrokes(
        &mut self,
        what: &str,
        a: &mut Note,
        sa: &mut sync::State,
        b: &mut Board,
        sb: &mut sync::State,
        n: usize,
    ) -> Result<()> {
        let (mut times, mut sizes, mut messages) = (Vec::new(), Vec::new(), Vec::new());
        let mut receive = Vec::new();
        for i in 0..n {
            a.keystroke(if i % 2 == 0 { "x" } else { "y" })?;
            let (wire, t) = self.time(|| {
                sync_until_quiet_timed(a.board.doc_mut(), sa, b.doc_mut(), sb, self.clock)
            });
            let wire = wire?;
            times.push(t);
            receive.push(wire.receive_ms / wire.messages.max(1) as f64);
            sizes.push(wire.bytes as f64);
            messages.push(wire.messages as f64);
        }
        ensure!(
            text_of(a.board.doc())? == text_of(b.doc())?,
            "sync keystrokes differ"
        );
        let sizes = Stats::of(&sizes);
        let messages = Stats::of(&messages);
        self.row(
            format!("{what} (median of {n})"),
            format!(
                "{}; {} on the wire in {} messages; receive_sync_message {} per message",
                Stats::of(&times).ms(),
                bytes(sizes.median as usize),
                messages.median,
                ms(Stats::of(&receive).median)
            ),
        );
        Ok(())
    }
}
