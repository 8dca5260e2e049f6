use automerge::transaction::Transactable;
use automerge::ActorId;

use crate::view::WidgetKind;
use crate::{Board, KanbanView};

fn board(n: u8) -> Board {
    Board::new(ActorId::from([n; 16])).unwrap()
}

/// Each column as "title: card card …".
fn shown(v: &KanbanView) -> Vec<String> {
    v.columns
        .iter()
        .map(|c| {
            let cards: Vec<&str> = c.cards.iter().map(|k| k.text.as_str()).collect();
            format!("{}: {}", c.title, cards.join(" "))
        })
        .collect()
}

fn merged(a: &mut Board, b: &mut Board) {
    let (from_a, from_b) = (a.snapshot(), b.snapshot());
    a.load_any(&from_b).unwrap();
    b.load_any(&from_a).unwrap();
}

fn col(v: &KanbanView, i: usize) -> String {
    v.columns[i].id.clone()
}

#[test]
fn cards_are_added_moved_within_and_between_columns() {
    let mut b = board(1);
    let id = b.add_widget(WidgetKind::Kanban).unwrap();
    let v = b.kanban(&id).unwrap();
    assert_eq!(shown(&v), ["To do: ", "Doing: ", "Done: "]);
    let (todo, doing) = (col(&v, 0), col(&v, 1));
    let x = b.add_kanban_card(&id, &todo, "x").unwrap();
    b.add_kanban_card(&id, &todo, "y").unwrap();
    let z = b.add_kanban_card(&id, &todo, "z").unwrap();
    assert_eq!(shown(&b.kanban(&id).unwrap())[0], "To do: x y z");
    b.move_kanban_card(&id, &z, &todo, 0).unwrap();
    assert_eq!(shown(&b.kanban(&id).unwrap())[0], "To do: z x y");
    b.move_kanban_card(&id, &x, &doing, 0).unwrap();
    b.set_kanban_card_text(&id, &x, "x!").unwrap();
    let v = b.kanban(&id).unwrap();
    assert_eq!(shown(&v), ["To do: z y", "Doing: x!", "Done: "]);
    assert_eq!(v.place_of(&x), Some((1, 0)));
    b.rename_kanban_column(&id, &doing, "Now").unwrap();
    let done = b.add_kanban_column(&id, "Later").unwrap();
    b.remove_kanban_card(&id, &z).unwrap();
    assert_eq!(
        shown(&b.kanban(&id).unwrap()),
        ["To do: y", "Now: x!", "Done: ", "Later: "]
    );
    // a removed column's cards go to the first column left
    b.remove_kanban_column(&id, &doing).unwrap();
    b.remove_kanban_column(&id, &done).unwrap();
    assert_eq!(shown(&b.kanban(&id).unwrap()), ["To do: y x!", "Done: "]);
    let first = col(&b.kanban(&id).unwrap(), 0);
    let last = col(&b.kanban(&id).unwrap(), 1);
    b.remove_kanban_column(&id, &last).unwrap();
    assert!(
        b.remove_kanban_column(&id, &first).is_err(),
        "the last column stays"
    );
}

#[test]
fn concurrent_moves_of_one_card_end_with_it_in_exactly_one_place() {
    for seed in 0..20u8 {
        let mut a = board(1 + seed);
        let id = a.add_widget(WidgetKind::Kanban).unwrap();
        let v = a.kanban(&id).unwrap();
        let card = a.add_kanban_card(&id, &col(&v, 0), "card").unwrap();
        a.add_kanban_card(&id, &col(&v, 0), "other").unwrap();
        let mut b = board(100 + seed);
        b.load_any(&a.snapshot()).unwrap();
        // a moves it to Doing, b to Done, at once; b also moves it within first
        a.move_kanban_card(&id, &card, &col(&v, 1), 0).unwrap();
        b.move_kanban_card(&id, &card, &col(&v, 0), 9).unwrap();
        b.move_kanban_card(&id, &card, &col(&v, 2), 0).unwrap();
        merged(&mut a, &mut b);
        let (va, vb) = (a.kanban(&id).unwrap(), b.kanban(&id).unwrap());
        assert_eq!(va, vb);
        let copies: usize = va
            .columns
            .iter()
            .map(|c| c.cards.iter().filter(|k| k.id == card).count())
            .sum();
        assert_eq!(copies, 1, "{:?}", shown(&va));
        assert_eq!(va.columns.iter().map(|c| c.cards.len()).sum::<usize>(), 2);
    }
}

#[test]
fn a_card_moved_into_a_column_removed_meanwhile_shows_in_the_first_column() {
    let mut a = board(1);
    let id = a.add_widget(WidgetKind::Kanban).unwrap();
    let v = a.kanban(&id).unwrap();
    let card = a.add_kanban_card(&id, &col(&v, 0), "card").unwrap();
    let mut b = board(2);
    b.load_any(&a.snapshot()).unwrap();
    a.move_kanban_card(&id, &card, &col(&v, 2), 0).unwrap();
    b.remove_kanban_column(&id, &col(&v, 2)).unwrap();
    merged(&mut a, &mut b);
    assert_eq!(shown(&a.kanban(&id).unwrap()), ["To do: card", "Doing: "]);
    assert_eq!(a.kanban(&id).unwrap(), b.kanban(&id).unwrap());
}

#[test]
fn hostile_places_and_bad_input_are_handled() {
    let mut b = board(1);
    let id = b.add_widget(WidgetKind::Kanban).unwrap();
    let v = b.kanban(&id).unwrap();
    let card = b.add_kanban_card(&id, &col(&v, 0), "card").unwrap();
    assert!(b.add_kanban_card(&id, "9@nowhere", "x").is_err());
    assert!(b
        .add_kanban_card(&id, &col(&v, 0), &"x".repeat(501))
        .is_err());
    assert!(b
        .move_kanban_card(&id, "9@nowhere", &col(&v, 0), 0)
        .is_err());
    // a place that is not one: the card shows in the first column
    let (_, w) = b.find_widget(&id).unwrap();
    let cards = b.obj(&w, super::CARDS, automerge::ObjType::List).unwrap();
    let (_, obj) = b.find_in(&cards, &card).unwrap();
    for bad in ["", "no-space", "1@x !!!", "1@x "] {
        b.doc.put(&obj, "place", bad).unwrap();
        assert_eq!(shown(&b.kanban(&id).unwrap())[0], "To do: card", "{bad:?}");
    }
    b.doc.put(&obj, "place", 7).unwrap();
    assert_eq!(shown(&b.kanban(&id).unwrap())[0], "To do: card");
    // parts of the wrong type read as an empty kanban
    b.doc.put(&w, super::COLUMNS, "nope").unwrap();
    assert_eq!(b.kanban(&id).unwrap(), KanbanView::default());
}
