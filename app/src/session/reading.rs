//! What the UI must hear after a batch of inputs: the parts of the board the core's
//! `BoardChange`s name, read again, and the splices into notes as they are.

use crdt::text_diff::Splice;

use super::*;

impl Session {
    pub(super) fn board_update(&mut self) -> BoardUpdate {
        let mut changes = std::mem::take(&mut self.changes);
        changes.extend(self.engine.board_mut().take_changes());
        let board = self.engine.board();
        let mut update = BoardUpdate::default();
        if changes.contains(&BoardChange::All) {
            let view = board.view();
            self.shown = view.widgets.iter().map(|w| w.id.clone()).collect();
            update.title = Some(view.title);
            update.widgets = Some(
                view.widgets
                    .iter()
                    .map(|w| (w.id.clone(), w.body.kind()))
                    .collect(),
            );
            update.layouts = view
                .widgets
                .iter()
                .filter_map(|w| Some((w.id.clone(), board.widget_layout(&w.id)?)))
                .collect();
            update.bodies = view.widgets.into_iter().map(|w| (w.id, w.body)).collect();
            return update;
        }
        let mut reread = BTreeSet::new();
        let mut relaid = BTreeSet::new();
        for change in &changes {
            match change {
                BoardChange::Title => update.title = Some(board.title()),
                BoardChange::Widgets => {
                    let kinds = board.widget_kinds();
                    for (id, _) in &kinds {
                        if !self.shown.contains(id) {
                            reread.insert(id.clone());
                        }
                    }
                    self.shown = kinds.iter().map(|(id, _)| id.clone()).collect();
                    update.widgets = Some(kinds);
                }
                BoardChange::Widget(id) => {
                    reread.insert(id.clone());
                }
                BoardChange::Layout(id) => {
                    relaid.insert(id.clone());
                }
                BoardChange::All | BoardChange::NoteSplice { .. } => {}
            }
        }
        reread.retain(|id| self.shown.contains(id));
        relaid.extend(reread.iter().cloned());
        update.layouts = relaid
            .iter()
            .filter(|id| self.shown.contains(*id))
            .filter_map(|id| Some((id.clone(), board.widget_layout(id)?)))
            .collect();
        update.bodies = reread
            .iter()
            .filter_map(|id| board.widget(id).map(|w| (w.id, w.body)))
            .collect();
        // a widget read whole already holds its splices
        update.splices = changes
            .into_iter()
            .filter_map(|c| match c {
                BoardChange::NoteSplice {
                    widget,
                    index,
                    delete,
                    insert,
                } if self.shown.contains(&widget) && !reread.contains(&widget) => Some((
                    widget,
                    Splice {
                        index,
                        delete,
                        insert,
                    },
                )),
                _ => None,
            })
            .collect();
        update
    }
}
