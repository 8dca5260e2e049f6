use automerge::transaction::Transactable;
use automerge::ActorId;

use crate::view::{WidgetBody, WidgetKind};
use crate::Board;

fn board(n: u8) -> Board {
    Board::new(ActorId::from([n; 16])).unwrap()
}

fn poll(b: &Board, id: &str) -> crate::PollView {
    match b.widget(id).map(|w| w.body) {
        Some(WidgetBody::Poll(p)) => p,
        other => panic!("not a poll: {other:?}"),
    }
}

const ANN: &str = "ann-profile-1";
const BOB: &str = "bob-profile-2";

fn merged(a: &mut Board, b: &mut Board) {
    let (from_a, from_b) = (a.snapshot(), b.snapshot());
    a.load_any(&from_b).unwrap();
    b.load_any(&from_a).unwrap();
}

#[test]
fn a_poll_has_a_question_options_and_one_vote_per_person() {
    let mut b = board(1);
    let id = b.add_widget(WidgetKind::Poll).unwrap();
    b.set_poll_question(&id, "Lunch?").unwrap();
    let pizza = b.add_poll_option(&id, " Pizza ").unwrap();
    let soup = b.add_poll_option(&id, "Soup").unwrap();
    b.vote(&id, ANN, Some(&pizza)).unwrap();
    b.vote(&id, BOB, Some(&pizza)).unwrap();
    // changing a vote moves it
    b.vote(&id, ANN, Some(&soup)).unwrap();
    let p = poll(&b, &id);
    assert_eq!(p.question, "Lunch?");
    assert_eq!(p.options[0].text, "Pizza");
    assert_eq!(p.options[0].voters, vec![BOB.to_string()]);
    assert_eq!(p.options[1].voters, vec![ANN.to_string()]);
    assert_eq!(p.vote_of(ANN), Some(soup.as_str()));
    assert_eq!(p.total(), 2);
    b.vote(&id, ANN, None).unwrap();
    assert_eq!(poll(&b, &id).total(), 1);
}

#[test]
fn bad_votes_and_options_are_refused() {
    let mut b = board(1);
    let id = b.add_widget(WidgetKind::Poll).unwrap();
    let o = b.add_poll_option(&id, "Yes").unwrap();
    assert!(b.vote(&id, "short", Some(&o)).is_err());
    assert!(b.vote(&id, "has spaces in it", Some(&o)).is_err());
    assert!(b.vote(&id, ANN, Some("1@nope")).is_err());
    assert!(b.add_poll_option(&id, "   ").is_err());
    assert!(b.add_poll_option(&id, &"x".repeat(201)).is_err());
    for i in 1..crate::board::MAX_POLL_OPTIONS {
        b.add_poll_option(&id, &format!("option {i}")).unwrap();
    }
    assert!(b.add_poll_option(&id, "one too many").is_err());
    let note = b.add_widget(WidgetKind::Note).unwrap();
    assert!(b.vote(&note, ANN, Some(&o)).is_err());
}

#[test]
fn two_people_voting_at_once_both_count_and_one_person_keeps_one_vote() {
    let mut a = board(1);
    let id = a.add_widget(WidgetKind::Poll).unwrap();
    let yes = a.add_poll_option(&id, "Yes").unwrap();
    let no = a.add_poll_option(&id, "No").unwrap();
    let mut b = board(2);
    b.load_any(&a.snapshot()).unwrap();
    // at the same time: Ann on a, Bob on b; and Ann again in a tab on b, for the other option
    a.vote(&id, ANN, Some(&yes)).unwrap();
    b.vote(&id, BOB, Some(&no)).unwrap();
    b.vote(&id, ANN, Some(&no)).unwrap();
    merged(&mut a, &mut b);
    let (pa, pb) = (poll(&a, &id), poll(&b, &id));
    assert_eq!(pa, pb);
    assert_eq!(pa.total(), 2, "Bob's vote and one of Ann's: {pa:?}");
    assert_eq!(pa.vote_of(BOB), Some(no.as_str()));
    assert!(pa.vote_of(ANN).is_some());
    // options added at once are both kept
    a.add_poll_option(&id, "Maybe").unwrap();
    b.add_poll_option(&id, "Later").unwrap();
    merged(&mut a, &mut b);
    assert_eq!(poll(&a, &id).options.len(), 4);
    assert_eq!(poll(&a, &id), poll(&b, &id));
}

#[test]
fn a_hostile_poll_reads_without_panic_and_bad_votes_count_for_nothing() {
    let mut b = board(1);
    let id = b.add_widget(WidgetKind::Poll).unwrap();
    let o = b.add_poll_option(&id, "Yes").unwrap();
    let (_, w) = b.find_widget(&id).unwrap();
    let votes = b.obj(&w, super::VOTES, automerge::ObjType::Map).unwrap();
    b.doc.put(&votes, "x", o.as_str()).unwrap(); // not a voter id
    b.doc.put(&votes, "valid-voter-1", "7@nowhere").unwrap(); // no such option
    b.doc.put(&votes, "valid-voter-2", 5).unwrap(); // not a string
    assert_eq!(poll(&b, &id).total(), 0);
    // a poll with its parts missing or of the wrong type reads as an empty poll
    b.doc.put(&w, super::OPTIONS, "not a list").unwrap();
    b.doc.delete(&w, super::QUESTION).unwrap();
    assert_eq!(poll(&b, &id), crate::PollView::default());
    assert!(b.add_poll_option(&id, "x").is_err());
}
