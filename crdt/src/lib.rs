//! Meshboard's core: the board schema on top of Automerge and a sans-IO sync engine.
//!
//! Nothing in this crate does I/O, reads a clock or spawns a thread: the browser glue (or a test)
//! feeds [`engine::Event`]s in, with the current time, and carries the returned
//! [`engine::Effect`]s out. It builds for native targets and for `wasm32-unknown-unknown`.
//!
//! The Automerge version is chosen once, in the workspace `Cargo.toml`; everything in the project
//! reaches Automerge through the re-export below so that the choice stays in one place.

pub use automerge;

pub mod board;
pub mod chunk;
pub mod engine;
pub mod error;
pub mod export;
pub mod frame;
pub mod history;
pub mod import;
pub mod link;
pub mod saved;
pub mod secure;
pub mod session;
pub mod sync_guard;
pub mod text_diff;
pub mod view;

pub use board::Board;
pub use engine::{Config, Effect, Engine, Event, PeerId};
pub use error::{BoardError, FrameError, LinkError};
pub use link::BoardSecret;
pub use view::{
    BoardView, KanbanCard, KanbanColumn, KanbanView, PollOption, PollView, TaskView, WidgetBody,
    WidgetKind, WidgetView,
};
