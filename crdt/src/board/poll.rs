//! A poll: a question, options that anyone can add, and one vote per person.
//!
//! ```text
//! widget { kind: "poll", question: Text, options: List<Map>, votes: Map }
//! option { text: str }
//! votes  { <voter>: <option id> }
//! ```
//!
//! A voter is a browser profile (the id presence uses), not a tab: the tabs of one profile write
//! the same key, so they share one vote. Two people voting at once write different keys and both
//! count; one person who votes twice at once (two tabs offline) ends with one of the two, the
//! same on every peer. A vote for an option that is not (or no longer) there counts for nothing.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ReadDoc, ScalarValue};

use super::read::Reading;
use super::{Board, TEXT};
use crate::error::BoardError;
use crate::view::{PollOption, PollView, WidgetKind};

pub(super) const QUESTION: &str = "question";
pub(super) const OPTIONS: &str = "options";
pub(super) const VOTES: &str = "votes";
/// Options one poll holds.
pub const MAX_POLL_OPTIONS: usize = 64;
/// Characters of one option's text.
pub const MAX_OPTION_CHARS: usize = 200;
/// A voter id is 8 to this many characters of `[A-Za-z0-9_-]`.
pub const MAX_VOTER_CHARS: usize = 64;

pub fn valid_voter(voter: &str) -> bool {
    (8..=MAX_VOTER_CHARS).contains(&voter.len())
        && voter
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Board {
    /// A new poll's parts (called by `add_widget`).
    pub(super) fn init_poll(&mut self, w: &ObjId) -> Result<(), BoardError> {
        self.doc.put_object(w, QUESTION, ObjType::Text)?;
        self.doc.put_object(w, OPTIONS, ObjType::List)?;
        self.doc.put_object(w, VOTES, ObjType::Map)?;
        Ok(())
    }

    fn poll_part(&self, widget: &str, key: &str, typ: ObjType) -> Result<ObjId, BoardError> {
        let w = self.widget_of_kind(widget, WidgetKind::Poll)?;
        self.obj(&w, key, typ)
            .ok_or(BoardError::Schema("poll without its parts"))
    }

    /// Make the question `new` by splicing only what differs.
    pub fn set_poll_question(&mut self, widget: &str, new: &str) -> Result<(), BoardError> {
        let question = self.poll_part(widget, QUESTION, ObjType::Text)?;
        self.update_text(&question, new)
    }

    /// Append an option; returns its id.
    pub fn add_poll_option(&mut self, widget: &str, text: &str) -> Result<String, BoardError> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > MAX_OPTION_CHARS {
            return Err(BoardError::Invalid("an option has 1 to 200 characters"));
        }
        let options = self.poll_part(widget, OPTIONS, ObjType::List)?;
        let len = self.doc.length(&options);
        if len >= MAX_POLL_OPTIONS {
            return Err(BoardError::Invalid("a poll has at most 64 options"));
        }
        let option = self.doc.insert_object(&options, len, ObjType::Map)?;
        self.doc.put(&option, TEXT, text)?;
        Ok(option.to_string())
    }

    /// `voter`'s vote is `option` from now on (`None`: no vote).
    pub fn vote(
        &mut self,
        widget: &str,
        voter: &str,
        option: Option<&str>,
    ) -> Result<(), BoardError> {
        if !valid_voter(voter) {
            return Err(BoardError::Invalid("not a voter id"));
        }
        let votes = self.poll_part(widget, VOTES, ObjType::Map)?;
        match option {
            Some(option) => {
                let options = self.poll_part(widget, OPTIONS, ObjType::List)?;
                if !self
                    .read()
                    .list_maps(&options)
                    .iter()
                    .any(|o| o.to_string() == option)
                {
                    return Err(BoardError::Invalid("no such option"));
                }
                self.doc.put(&votes, voter, option)?;
            }
            None => self.doc.delete(&votes, voter)?,
        }
        Ok(())
    }
}

impl Reading<'_> {
    pub(super) fn poll_view(&self, w: &ObjId) -> PollView {
        let mut options: Vec<PollOption> = self
            .obj(w, OPTIONS, ObjType::List)
            .map(|list| {
                self.list_maps(&list)
                    .into_iter()
                    .take(MAX_POLL_OPTIONS)
                    .map(|o| PollOption {
                        id: o.to_string(),
                        text: match self.scalar(&o, TEXT) {
                            Some(ScalarValue::Str(s)) => s.chars().take(MAX_OPTION_CHARS).collect(),
                            _ => String::new(),
                        },
                        voters: Vec::new(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(votes) = self.obj(w, VOTES, ObjType::Map) {
            for (voter, choice) in self.map_strings(&votes) {
                if !valid_voter(&voter) {
                    continue;
                }
                if let Some(o) = options.iter_mut().find(|o| o.id == choice) {
                    o.voters.push(voter);
                }
            }
        }
        PollView {
            question: self.text_of(w, QUESTION),
            options,
        }
    }
}

#[cfg(test)]
mod tests;
