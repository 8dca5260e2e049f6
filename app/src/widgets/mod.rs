//! One component per widget kind, plus the caret-preserving text binding they share.

pub mod collab_text;
pub mod counter;
pub mod kanban;
pub mod layout;
pub mod note;
pub mod poll;
pub mod remote_carets;
pub mod tasks;
pub mod widget;
