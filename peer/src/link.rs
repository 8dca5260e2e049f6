//! A board link as users share it: `https://host/b#<secret>`. The app reads the path and the
//! fragment (`app/src/route.rs`); this accepts the same links, and also `/b#<secret>` alone.

use crdt::BoardSecret;

use crate::error::LinkParseError;

/// Path of a board page, as in the app's `route::BOARD_PATH`.
const BOARD_PATH: &str = "/b";

/// The secret of a board link.
pub fn parse(link: &str) -> Result<BoardSecret, LinkParseError> {
    let link = link.trim();
    let (before, fragment) = link.split_once('#').unwrap_or((link, ""));
    // drop `scheme://authority`, keep the path (a query is not part of a board link)
    let path = match before.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => before,
    };
    if path.trim_end_matches('/') != BOARD_PATH {
        return Err(LinkParseError::NotABoardPath(path.to_owned()));
    }
    Ok(BoardSecret::parse(fragment)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_the_app_shares() {
        let s = BoardSecret::from_bytes([3; 16]);
        let f = s.to_fragment();
        for link in [
            format!("http://127.0.0.1:8080/b#{f}"),
            format!("https://board.example/b/#{f}"),
            format!("/b#{f}"),
            format!("  https://x/b#{f}\n"),
        ] {
            assert_eq!(parse(&link).unwrap(), s, "{link}");
        }
    }

    #[test]
    fn refuses_anything_else_clearly() {
        let f = BoardSecret::from_bytes([3; 16]).to_fragment();
        assert_eq!(
            parse(&format!("https://x/other#{f}")),
            Err(LinkParseError::NotABoardPath("/other".into()))
        );
        assert_eq!(
            parse(&format!("https://x#{f}")),
            Err(LinkParseError::NotABoardPath("".into()))
        );
        assert_eq!(
            parse("https://x/b"),
            Err(LinkParseError::Key(crdt::LinkError::Missing))
        );
        assert_eq!(
            parse("https://x/b#abc"),
            Err(LinkParseError::Key(crdt::LinkError::WrongLength(3)))
        );
    }
}
