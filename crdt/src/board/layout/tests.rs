use automerge::ActorId;

use super::*;
use crate::WidgetKind;

#[test]
fn keys_sort_between_their_neighbours() {
    let mut keys = vec![between(None, None)];
    // appending, prepending and always into the same gap
    for _ in 0..200 {
        let last = keys.last().cloned();
        keys.push(between(last.as_deref(), None));
    }
    for _ in 0..200 {
        let first = keys.first().cloned();
        keys.insert(0, between(None, first.as_deref()));
    }
    for _ in 0..200 {
        let k = between(Some(&keys[10]), Some(&keys[11]));
        keys.insert(11, k);
    }
    for w in keys.windows(2) {
        assert!(w[0] < w[1], "{} < {}", w[0], w[1]);
        assert!(valid_pos(&w[0]) && valid_pos(&w[1]));
    }
    let longest = keys.iter().map(String::len).max().unwrap_or(0);
    assert!(longest <= 128, "keys stay short: {longest}");
}

fn order(b: &Board) -> Vec<String> {
    b.widget_kinds().into_iter().map(|(id, _)| id).collect()
}

#[test]
fn moves_sizes_and_titles() {
    let mut b = Board::new(ActorId::from([1; 16])).unwrap();
    let ids: Vec<String> = (0..4)
        .map(|_| b.add_widget(WidgetKind::Counter).unwrap())
        .collect();
    assert_eq!(order(&b), ids);
    b.move_widget(&ids[3], -2).unwrap();
    assert_eq!(
        order(&b),
        vec![
            ids[0].clone(),
            ids[3].clone(),
            ids[1].clone(),
            ids[2].clone()
        ]
    );
    b.move_widget(&ids[0], 10).unwrap();
    assert_eq!(
        order(&b),
        vec![
            ids[3].clone(),
            ids[1].clone(),
            ids[2].clone(),
            ids[0].clone()
        ]
    );
    b.move_widget(&ids[3], -1).unwrap();
    assert_eq!(order(&b)[0], ids[3], "nothing before the first");
    b.set_widget_size(&ids[1], 3).unwrap();
    b.set_widget_size(&ids[2], 9).unwrap();
    b.set_widget_title(&ids[1], "Sprint").unwrap();
    assert_eq!(
        b.widget_layout(&ids[1]),
        Some(WidgetLayout {
            title: "Sprint".into(),
            size: 3
        })
    );
    assert_eq!(b.widget_layout(&ids[2]).map(|l| l.size), Some(MAX_SIZE));
    assert_eq!(b.widget_layout(&ids[0]), Some(WidgetLayout::default()));
}

#[test]
fn concurrent_moves_converge_without_duplicates_or_losses() {
    let mut a = Board::new(ActorId::from([1; 16])).unwrap();
    let ids: Vec<String> = (0..5)
        .map(|_| a.add_widget(WidgetKind::Note).unwrap())
        .collect();
    a.commit(1);
    let mut b = Board::new(ActorId::from([2; 16])).unwrap();
    b.merge(&mut a).unwrap();
    // both move the same widget, and each another one, at once
    a.move_widget(&ids[0], 3).unwrap();
    a.move_widget(&ids[4], -4).unwrap();
    b.move_widget(&ids[0], 1).unwrap();
    b.move_widget(&ids[2], 2).unwrap();
    a.commit(2);
    b.commit(2);
    a.merge(&mut b).unwrap();
    b.merge(&mut a).unwrap();
    let (oa, ob) = (order(&a), order(&b));
    assert_eq!(oa, ob, "the same order on both");
    let mut sorted = oa.clone();
    sorted.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(sorted, expected, "every widget once: {oa:?}");
}

#[test]
fn boards_from_before_position_keys_keep_their_order_and_can_move() {
    let mut b = Board::new(ActorId::from([1; 16])).unwrap();
    let ids: Vec<String> = (0..3)
        .map(|_| b.add_widget(WidgetKind::Tasks).unwrap())
        .collect();
    // as an old board: no keys at all
    for id in &ids {
        let (_, w) = b.find_widget(id).unwrap();
        b.doc.delete(&w, POS).unwrap();
    }
    assert_eq!(order(&b), ids);
    b.move_widget(&ids[2], -1).unwrap();
    assert_eq!(
        order(&b),
        vec![ids[0].clone(), ids[2].clone(), ids[1].clone()]
    );
    // a crafted key sorts as none
    let (_, w) = b.find_widget(&ids[1]).unwrap();
    b.doc.put(&w, POS, "not a key!").unwrap();
    assert_eq!(order(&b)[0], ids[1]);
}

#[test]
fn a_restored_version_puts_widgets_back_in_place_with_their_titles() {
    let mut b = Board::new(ActorId::from([1; 16])).unwrap();
    let ids: Vec<String> = (0..3)
        .map(|_| b.add_widget(WidgetKind::Counter).unwrap())
        .collect();
    b.set_widget_title(&ids[1], "Middle").unwrap();
    b.set_widget_size(&ids[1], 2).unwrap();
    b.commit(1);
    let then = b.heads();
    b.remove_widget(&ids[1]).unwrap();
    b.move_widget(&ids[0], 1).unwrap();
    b.commit(2);
    crate::history::restore(&mut b, &then).unwrap();
    b.commit(3);
    let order = order(&b);
    assert_eq!(order.len(), 3);
    assert_eq!(order[0], ids[0], "moved back");
    assert_eq!(order[2], ids[2]);
    assert_eq!(
        b.widget_layout(&order[1]),
        Some(WidgetLayout {
            title: "Middle".into(),
            size: 2
        }),
        "the removed one is back in the middle, as it was"
    );
}
