pub mod board;
pub mod board_menu;
pub mod history;
pub mod home;
pub mod link_error;
pub mod mesh;
pub mod my_name;
pub mod presence;
pub mod undo;

use crate::browser;

/// "3 min ago" for a time in ms since the epoch.
pub fn ago(then_ms: f64) -> String {
    let secs = ((browser::now_ms() as f64 - then_ms) / 1000.0).max(0.0) as u64;
    match secs {
        0..=59 => "just now".to_owned(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}
