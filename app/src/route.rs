//! Which page a URL shows. The board's secret travels in the fragment, which browsers never send
//! to a server.

use crdt::{BoardSecret, LinkError};

/// Path of a board page; the full link is `/b#<secret>`.
pub const BOARD_PATH: &str = "/b";

#[derive(Debug, PartialEq)]
pub enum Route {
    Home,
    Board(BoardSecret),
    BadLink(LinkError),
    NotFound,
}

pub fn parse(path: &str, hash: &str) -> Route {
    match path.trim_end_matches('/') {
        "" | "/index.html" => Route::Home,
        BOARD_PATH => match BoardSecret::parse(hash) {
            Ok(secret) => Route::Board(secret),
            Err(e) => Route::BadLink(e),
        },
        _ => Route::NotFound,
    }
}

/// The link to a board.
pub fn board_href(secret: &BoardSecret) -> String {
    format!("{BOARD_PATH}#{}", secret.to_fragment())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let s = BoardSecret::from_bytes([3; 16]);
        assert_eq!(parse("/", ""), Route::Home);
        assert_eq!(
            parse("/b", &format!("#{}", s.to_fragment())),
            Route::Board(s.clone())
        );
        assert_eq!(
            parse("/b/", &format!("#{}", s.to_fragment())),
            Route::Board(s.clone())
        );
        assert_eq!(parse("/b", ""), Route::BadLink(LinkError::Missing));
        assert_eq!(
            parse("/b", "#abc"),
            Route::BadLink(LinkError::WrongLength(3))
        );
        assert_eq!(parse("/nope", ""), Route::NotFound);
        assert_eq!(board_href(&s), format!("/b#{}", s.to_fragment()));
    }
}
