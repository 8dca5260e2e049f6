//! What must hold once the network has healed: convergence and quiet.

use crdt::automerge::ChangeHash;
use crdt::{BoardView, Event};

use super::{World, SETTLE_MS};

impl World {
    pub(super) fn check_converged(&mut self) -> Result<(), String> {
        let mut first: Option<(Vec<ChangeHash>, BoardView)> = None;
        for i in 0..self.n {
            let engine = self.nodes[i].engine.as_mut().ok_or("a node is down")?;
            let peers: Vec<String> = engine.peers().cloned().collect();
            let expected: Vec<String> = (0..self.n)
                .filter(|j| *j != i)
                .map(|j| j.to_string())
                .collect();
            if peers != expected {
                return Err(format!("node {i} has peers {peers:?}, not {expected:?}"));
            }
            let heads = engine.board_mut().heads();
            let view = engine.board().view();
            // moves are register writes: a widget is never shown twice
            let mut ids: Vec<&str> = view.widgets.iter().map(|w| w.id.as_str()).collect();
            ids.sort_unstable();
            if ids.windows(2).any(|w| w[0] == w[1]) {
                return Err(format!("node {i} shows a widget twice: {ids:?}"));
            }
            // card moves are too: a card is in exactly one column once
            for w in &view.widgets {
                if let crdt::WidgetBody::Kanban(k) = &w.body {
                    let mut cards: Vec<&str> = k
                        .columns
                        .iter()
                        .flat_map(|c| c.cards.iter().map(|k| k.id.as_str()))
                        .collect();
                    cards.sort_unstable();
                    if cards.windows(2).any(|w| w[0] == w[1]) {
                        return Err(format!("node {i} shows a card twice: {cards:?}"));
                    }
                }
            }
            match &first {
                None => first = Some((heads, view)),
                Some((h0, v0)) => {
                    if heads != *h0 {
                        return Err(format!(
                            "node {i} has heads {heads:?}, node 0 {h0:?}{}",
                            self.describe()
                        ));
                    }
                    if view != *v0 {
                        return Err(format!("node {i} shows {view:?}, node 0 {v0:?}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every node's heads, shortened, for a failure message.
    pub(super) fn describe(&mut self) -> String {
        let mut out = String::new();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            if let Some(e) = &mut node.engine {
                let heads: Vec<String> = e
                    .board_mut()
                    .heads()
                    .iter()
                    .map(|h| h.to_string()[..8].to_string())
                    .collect();
                let n = e.board_mut().doc_mut().get_changes(&[]).len();
                out.push_str(&format!("\n  node {i}: {n} changes, heads {heads:?}"));
            }
        }
        out
    }

    /// Long after convergence, timers (early, late, spurious) produce no frame.
    pub(super) fn check_quiet(&mut self) -> Result<(), String> {
        let before = self.out.frames_after_heal;
        let c = self.params.config;
        for wait in [
            c.send_interval_ms * c.send_burst,
            c.ack_timeout_ms,
            c.max_backoff_ms,
            10 * 60 * 1000,
        ] {
            self.now += wait + 1;
            for i in 0..self.n {
                self.deliver(i, Event::Tick);
            }
            self.drain();
            let end = self.now + SETTLE_MS;
            self.run_until(end)?;
        }
        let extra = self.out.frames_after_heal - before;
        if extra > 0 {
            return Err(format!("{extra} frames after convergence: not quiet"));
        }
        Ok(())
    }
}
