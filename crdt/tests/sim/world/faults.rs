//! The fault driver: what happens while the network misbehaves (edits, crashes, restarts,
//! partitions, channels closing and reopening, the hostile peer's moves).

use crdt::Event;
use rand::Rng;

use super::{Job, World};
use crate::sim::edits::random_edit;

impl World {
    pub(super) fn job(&mut self, job: Job) {
        match job {
            Job::Act => {
                self.act();
                if self.faulting {
                    let after = self.rng.random_range(1..=60);
                    self.schedule(after, Job::Act);
                }
            }
            Job::Restart(i) => {
                if !self.nodes[i].is_up() {
                    let effects = self.nodes[i].restart(self.now);
                    self.apply(i, effects);
                    for j in (0..self.n).filter(|j| *j != i) {
                        let after = self.rng.random_range(10..=500);
                        self.schedule(after, Job::Reopen(i, j));
                    }
                }
            }
            Job::Reopen(a, b) => {
                if !self.net.is_open(a, b) {
                    if self.reachable(a, b) {
                        self.open(a, b);
                    } else if self.faulting {
                        let after = self.rng.random_range(200..=2000);
                        self.schedule(after, Job::Reopen(a, b));
                    }
                }
            }
            Job::EndPartition => {
                self.wall = None;
                self.net.cut = None;
            }
        }
    }

    pub(super) fn act(&mut self) {
        let up: Vec<usize> = (0..self.n).filter(|i| self.nodes[*i].is_up()).collect();
        if up.is_empty() {
            return;
        }
        let i = up[self.rng.random_range(0..up.len())];
        match self.rng.random_range(0..100) {
            0..50 => self.edit(i),
            50..53 => self.crash(i),
            53..56 => self.partition(),
            56..60 => {
                let j = self.rng.random_range(0..self.n);
                if j != i {
                    self.close(i, j);
                }
            }
            60..75 => self.hostile_act(i),
            _ => {}
        }
    }

    pub(super) fn edit(&mut self, i: usize) {
        let Some(engine) = &mut self.nodes[i].engine else {
            return;
        };
        for _ in 0..self.rng.random_range(1..=3) {
            random_edit(engine.board_mut(), &mut self.rng, &mut self.seen);
        }
        self.deliver(i, Event::LocalChange);
    }

    pub(super) fn crash(&mut self, i: usize) {
        self.out.crashes += 1;
        self.nodes[i].crash();
        for j in 0..=self.n {
            if j != i {
                self.close(i, j);
            }
        }
        let after = self.rng.random_range(100..=3000);
        self.schedule(after, Job::Restart(i));
    }

    pub(super) fn partition(&mut self) {
        if self.wall.is_some() || self.net.cut.is_some() {
            return;
        }
        self.out.partitions += 1;
        let side: Vec<bool> = (0..self.n).map(|_| self.rng.random_bool(0.5)).collect();
        if self.rng.random_bool(0.5) {
            // silent: channels stay open, frames across are lost
            self.net.cut = Some(side);
        } else {
            // the channels across close, and stay closed until it ends
            for a in 0..self.n {
                for b in a + 1..self.n {
                    if side[a] != side[b] {
                        self.close(a, b);
                    }
                }
            }
            self.wall = Some(side);
        }
        let after = self.rng.random_range(300..=4000);
        self.schedule(after, Job::EndPartition);
    }

    pub(super) fn hostile_act(&mut self, target: usize) {
        let h = self.n;
        let Some(hostile) = &mut self.hostile else {
            return;
        };
        if !hostile.is_connected(target) || !self.net.is_open(h, target) {
            self.open(h, target);
            return;
        }
        for f in hostile.attack(target, &mut self.rng) {
            self.net.send(h, target, f, self.now, &mut self.rng);
        }
    }
}
