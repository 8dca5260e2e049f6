//! Meshboard vendor patch (see PATCHES.md): bounds on the work that decoding untrusted bytes may
//! cause.
//!
//! automerge 0.6.1 as published inflates compressed change chunks and document columns without a
//! limit (a few MiB of deflate inflate to gigabytes), and decodes however many ops the run lengths
//! of a change or a document claim (a few hundred bytes can encode millions). Here every inflate
//! and every decoded op is charged to a [`Budget`]:
//!
//! * inside [`scoped`], to the budget given for the whole call (a message, a stored piece);
//! * outside it, each inflate may produce at most [`Budget::DEFAULT`]'s bytes and each document
//!   or change may hold at most its ops.
//!
//! A change over [`Budget::ops_per_change`] is refused wherever it comes from. When a limit is
//! reached the decoder fails with an error, and [`scoped`] reports which limit it was even where
//! automerge goes on past a bad chunk (`load_incremental` skips what it cannot parse).
use std::cell::Cell;
use std::io::Read;

/// Limits on what decoding may produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Bytes that inflating compressed chunks and columns may produce, in all.
    pub inflated_bytes: usize,
    /// Ops that decoding changes and documents may produce, in all.
    pub ops: usize,
    /// Ops that one change may hold.
    pub ops_per_change: usize,
}

impl Budget {
    /// Generous for real boards: the automerge-paper trace (260k changes, a 105k-character note)
    /// loads with a tenth of it, and a paste of that whole note is one change of 105k ops.
    pub const DEFAULT: Budget = Budget {
        inflated_bytes: 32 << 20,
        ops: 4_000_000,
        ops_per_change: 500_000,
    };
}

impl Default for Budget {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The limit that decoding reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    #[error("inflating would produce more than {0} bytes")]
    InflatedBytes(usize),
    #[error("decoding would produce more than {0} ops")]
    Ops(usize),
    #[error("a change holds more than {0} ops")]
    OpsPerChange(usize),
}

#[derive(Debug, Clone, Copy)]
struct Scope {
    limits: Budget,
    inflated: usize,
    ops: usize,
    exceeded: Option<Exceeded>,
}

thread_local! {
    static SCOPE: Cell<Option<Scope>> = const { Cell::new(None) };
}

/// Runs `f` with `budget` for everything it decodes, and fails if any limit was reached (even
/// where `f` itself went on). Inside another scope, `f` is charged to that one instead (a
/// document a message carries counts against the message's budget).
pub fn scoped<R>(budget: Budget, f: impl FnOnce() -> R) -> Result<R, Exceeded> {
    if let Some(outer) = SCOPE.with(|s| s.get()) {
        let result = f();
        let now = SCOPE.with(|s| s.get()).and_then(|s| s.exceeded);
        return match (outer.exceeded, now) {
            (None, Some(e)) => Err(e),
            _ => Ok(result),
        };
    }
    // cleared on the way out, also when `f` unwinds
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            SCOPE.with(|s| s.set(None));
        }
    }
    SCOPE.with(|s| {
        s.set(Some(Scope {
            limits: budget,
            inflated: 0,
            ops: 0,
            exceeded: None,
        }))
    });
    let clear = Clear;
    let result = f();
    let exceeded = SCOPE.with(|s| s.get()).and_then(|s| s.exceeded);
    drop(clear);
    match exceeded {
        Some(e) => Err(e),
        None => Ok(result),
    }
}

fn record(e: Exceeded) -> Exceeded {
    SCOPE.with(|s| {
        if let Some(mut scope) = s.get() {
            scope.exceeded.get_or_insert(e);
            s.set(Some(scope));
        }
    });
    e
}

/// Why an inflate failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InflateError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Budget(#[from] Exceeded),
}

/// Inflates raw deflate `compressed` onto the end of `out`, returning how many bytes it added.
/// `out` never grows past the bytes left in the budget: the data is read in small pieces and
/// refused before a piece would overrun it.
pub(crate) fn inflate(compressed: &[u8], out: &mut Vec<u8>) -> Result<usize, InflateError> {
    let (limit, left) = SCOPE.with(|s| match s.get() {
        Some(scope) => (
            scope.limits.inflated_bytes,
            scope.limits.inflated_bytes.saturating_sub(scope.inflated),
        ),
        None => (Budget::DEFAULT.inflated_bytes, Budget::DEFAULT.inflated_bytes),
    });
    let mut decoder = flate2::bufread::DeflateDecoder::new(compressed);
    let mut piece = [0u8; 16 * 1024];
    let mut added = 0usize;
    let result = loop {
        match decoder.read(&mut piece) {
            Ok(0) => break Ok(added),
            Ok(n) if added + n > left => break Err(record(Exceeded::InflatedBytes(limit)).into()),
            Ok(n) => {
                out.extend_from_slice(&piece[..n]);
                added += n;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e.into()),
        }
    };
    SCOPE.with(|s| {
        if let Some(mut scope) = s.get() {
            scope.inflated = scope.inflated.saturating_add(added);
            s.set(Some(scope));
        }
    });
    result
}

/// Counts the ops of one change or document as they are decoded.
#[derive(Debug)]
pub(crate) struct OpMeter {
    count: usize,
    /// The most this unit may hold on its own.
    own_limit: usize,
    own_exceeded: Exceeded,
}

impl OpMeter {
    pub(crate) fn change() -> Self {
        let limit = SCOPE
            .with(|s| s.get())
            .map_or(Budget::DEFAULT.ops_per_change, |s| s.limits.ops_per_change);
        Self {
            count: 0,
            own_limit: limit,
            own_exceeded: Exceeded::OpsPerChange(limit),
        }
    }

    pub(crate) fn document() -> Self {
        let limit = SCOPE
            .with(|s| s.get())
            .map_or(Budget::DEFAULT.ops, |s| s.limits.ops);
        Self {
            count: 0,
            own_limit: limit,
            own_exceeded: Exceeded::Ops(limit),
        }
    }

    /// One more op; an error once this unit or the scope is over its limit.
    pub(crate) fn tick(&mut self) -> Result<(), Exceeded> {
        self.count += 1;
        if self.count > self.own_limit {
            return Err(record(self.own_exceeded));
        }
        SCOPE.with(|s| match s.get() {
            Some(mut scope) => {
                scope.ops += 1;
                if scope.ops > scope.limits.ops {
                    let e = Exceeded::Ops(scope.limits.ops);
                    scope.exceeded.get_or_insert(e);
                    s.set(Some(scope));
                    Err(e)
                } else {
                    s.set(Some(scope));
                    Ok(())
                }
            }
            None => Ok(()),
        })
    }
}
