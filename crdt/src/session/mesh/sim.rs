//! Many meshes, a signaling server and the links between them, simulated: signals are lost and
//! delayed, sockets drop, peers crash, leave and come back under new ids, the network splits in
//! two. After the faults stop, every peer must hold exactly the links the overlay gives it (in a
//! small room: one to every other peer), each open and the same one on both sides, and nobody a
//! link to a peer that is gone. With engines on the links (the real sync engine, edits made all
//! along), every board must then be the same, also where it took several hops to get there.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use automerge::ActorId;

use super::*;
use crate::session::overlay::overlay;
use crate::view::WidgetKind;
use crate::{Board, Effect, Engine, Event};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What reaches a node (from the server, or from a peer over a link).
#[derive(Debug, Clone)]
enum Msg {
    Welcome {
        socket: u64,
    },
    Server {
        socket: u64,
        input: MeshInput,
    },
    /// A relayed offer or answer for connection `conn`.
    Offer {
        from: PeerId,
        conn: usize,
    },
    Answer {
        conn: usize,
    },
    /// Something on one end of a connection.
    End {
        conn: usize,
        input: MeshInput,
    },
    /// Board data from one end of an open connection to the other.
    Data {
        conn: usize,
        frame: Vec<u8>,
    },
}

struct Node {
    mesh: Mesh,
    alive: bool,
    /// The socket the server knows this node by (`None`: not connected), counted up on each
    /// new one so that messages for an older socket are dropped.
    socket: Option<u64>,
    /// The node's id in the room, once welcomed.
    id: Option<PeerId>,
    /// The sync engine on the node's links, in worlds that carry boards.
    engine: Option<Engine>,
    engine_wake: Option<u64>,
    /// The half of a split network the node is in.
    side: bool,
}

/// A peer connection: the offering end, and the answering end once it answered.
struct Conn {
    ends: [(usize, LinkId); 2],
    answered: bool,
    established: bool,
    closed: bool,
    /// When the last message from each end arrives: a channel delivers in order.
    last_at: [u64; 2],
}

struct World {
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize, usize)>>,
    msgs: Vec<Option<Msg>>,
    nodes: Vec<Node>,
    conns: Vec<Conn>,
    /// The server's room: peer id to node.
    room: BTreeMap<PeerId, usize>,
    next_socket: u64,
    /// When the server's last message on each socket arrives.
    socket_last_at: BTreeMap<u64, u64>,
    /// Per cent of relayed signals lost.
    loss: u64,
    opened: usize,
    /// The offer being passed in: the executor answers it.
    pending_offer: Option<usize>,
    /// Nodes alive at once, at most (newcomers join up to it).
    max_nodes: usize,
    /// Run a sync engine on every node and edit boards.
    boards: bool,
    /// The network is split into two sides that cannot reach each other (the server can).
    split: bool,
    /// Per mille of steps where some node edits its board.
    edit_rate: u64,
    edits: usize,
    /// The most links any node held at any time.
    most_links: usize,
    /// Faults injected, by kind.
    faults: BTreeMap<&'static str, usize>,
}

impl World {
    fn new(seed: u64, max_nodes: usize, boards: bool) -> Self {
        World {
            max_nodes,
            boards,
            split: false,
            edit_rate: 0,
            edits: 0,
            most_links: 0,
            faults: BTreeMap::new(),
            rng: Rng(seed | 1),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            msgs: Vec::new(),
            nodes: Vec::new(),
            conns: Vec::new(),
            room: BTreeMap::new(),
            next_socket: 0,
            socket_last_at: BTreeMap::new(),
            loss: 0,
            opened: 0,
            pending_offer: None,
        }
    }

    fn send(&mut self, node: usize, delay: u64, msg: Msg) {
        self.seq += 1;
        self.msgs.push(Some(msg));
        let at = self.now + delay;
        self.queue
            .push(Reverse((at, self.seq, node, self.msgs.len() - 1)));
    }

    fn latency(&mut self) -> u64 {
        5 + self.rng.below(200)
    }

    fn add_node(&mut self) -> usize {
        let seed = self.rng.next();
        let i = self.nodes.len();
        let engine = self.boards.then(|| {
            let mut actor = [0x5a; 16];
            actor[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let board = Board::new(ActorId::from(actor)).expect("a new board");
            Engine::new(board)
        });
        let side = self.rng.chance(50);
        self.nodes.push(Node {
            mesh: Mesh::new(MeshPolicy::default(), seed),
            alive: true,
            socket: None,
            id: None,
            engine,
            engine_wake: None,
            side,
        });
        self.input(i, MeshInput::Start);
        i
    }

    fn input(&mut self, i: usize, input: MeshInput) {
        if !self.nodes[i].alive {
            return;
        }
        let out = self.nodes[i].mesh.handle(input, self.now);
        for command in out {
            self.carry_out(i, command);
        }
    }

    /// The server drops node `i`'s socket: the others hear it left.
    fn server_forgets(&mut self, i: usize) {
        self.nodes[i].socket = None;
        if let Some(id) = self.nodes[i].id.take() {
            if self.room.get(&id) == Some(&i) {
                self.room.remove(&id);
                self.broadcast(&id, MeshInput::PeerLeft(id.clone()));
            }
        }
    }

    fn broadcast(&mut self, except: &PeerId, input: MeshInput) {
        let targets: Vec<(PeerId, usize)> = self
            .room
            .iter()
            .filter(|(p, _)| *p != except)
            .map(|(p, n)| (p.clone(), *n))
            .collect();
        for (_, n) in targets {
            if let Some(socket) = self.nodes[n].socket {
                // one socket delivers in order
                let last = self.socket_last_at.entry(socket).or_insert(0);
                let at = (self.now + 5 + self.rng.below(200)).max(*last);
                *last = at;
                let input = input.clone();
                self.send(n, at - self.now, Msg::Server { socket, input });
            }
        }
    }

    fn end_of(&self, conn: usize, node: usize) -> Option<(usize, usize, LinkId)> {
        let c = &self.conns[conn];
        let [a, b] = c.ends;
        if a.0 == node {
            Some((0, b.0, b.1))
        } else if b.0 == node {
            Some((1, a.0, a.1))
        } else {
            None
        }
    }

    fn conn_of(&self, node: usize, link: LinkId) -> Option<usize> {
        self.conns
            .iter()
            .position(|c| !c.closed && c.ends.iter().any(|&(n, l)| n == node && l == link))
    }

    fn carry_out(&mut self, i: usize, command: MeshCommand) {
        match command {
            MeshCommand::OpenSocket => {
                self.next_socket += 1;
                self.nodes[i].socket = Some(self.next_socket);
                let delay = self.latency();
                let socket = self.next_socket;
                self.send(i, delay, Msg::Welcome { socket });
            }
            MeshCommand::CloseSocket => self.server_forgets(i),
            MeshCommand::NewPeerId(_) => {}
            MeshCommand::Offer { peer, link } => {
                self.conns.push(Conn {
                    ends: [(i, link), (usize::MAX, link)],
                    answered: false,
                    established: false,
                    closed: false,
                    last_at: [0; 2],
                });
                let conn = self.conns.len() - 1;
                self.relay(i, &peer, |from| Msg::Offer { from, conn });
            }
            MeshCommand::Answer { peer, link } => {
                // the executor answers the offer it was just handed
                let Some(conn) = self.pending_offer.take() else {
                    panic!("an answer without an offer to {peer}");
                };
                let c = &mut self.conns[conn];
                if c.closed || c.answered {
                    return;
                }
                c.ends[1] = (i, link);
                c.answered = true;
                let offerer = c.ends[0].0;
                if self.nodes[offerer].socket.is_some() && !self.lost() && !self.apart(offerer, i) {
                    let delay = self.latency();
                    self.send(offerer, delay, Msg::Answer { conn });
                }
            }
            MeshCommand::SendProof { link, .. } => {
                let Some(conn) = self.conn_of(i, link) else {
                    return;
                };
                if let Some((_, _, other_link)) = self.end_of(conn, i) {
                    let peer = self.nodes[i].id.clone().unwrap_or_default();
                    let input = MeshInput::Proof {
                        peer,
                        link: other_link,
                        valid: true,
                    };
                    self.send_on(conn, i, Msg::End { conn, input });
                }
            }
            MeshCommand::Opened { peer, .. } => {
                self.opened += 1;
                self.engine(i, Event::Connected(peer));
            }
            MeshCommand::Close {
                peer,
                link,
                was_open,
                ..
            } => {
                if was_open {
                    self.engine(i, Event::Disconnected(peer));
                }
                let Some(conn) = self.conn_of(i, link) else {
                    return;
                };
                self.conns[conn].closed = true;
                if self.conns[conn].established {
                    if let Some((_, other, other_link)) = self.end_of(conn, i) {
                        let peer = self.nodes[i].id.clone().unwrap_or_default();
                        let delay = self.latency();
                        let input = MeshInput::Failed {
                            peer,
                            link: other_link,
                            why: LinkFailure::ChannelClosed,
                        };
                        self.send(other, delay, Msg::End { conn, input });
                    }
                }
            }
        }
    }

    fn lost(&mut self) -> bool {
        self.rng.chance(self.loss)
    }

    /// Nodes `a` and `b` cannot reach each other: the network is split between them.
    fn apart(&self, a: usize, b: usize) -> bool {
        self.split && self.nodes[a].side != self.nodes[b].side
    }

    /// A message from node `from` over connection `conn` to its other end, after the ones sent
    /// before it on that connection.
    fn send_on(&mut self, conn: usize, from: usize, msg: Msg) {
        let Some((end, to, _)) = self.end_of(conn, from) else {
            return;
        };
        let at = (self.now + self.latency()).max(self.conns[conn].last_at[end]);
        self.conns[conn].last_at[end] = at;
        self.send(to, at - self.now, msg);
    }

    fn engine(&mut self, i: usize, event: Event) {
        let Some(engine) = self.nodes[i].engine.as_mut() else {
            return;
        };
        for effect in engine.handle(event, self.now) {
            match effect {
                Effect::Send { peer, frame } => {
                    let link = self.nodes[i].mesh.link(&peer).filter(|l| l.open);
                    if let Some(conn) = link.and_then(|l| self.conn_of(i, l.id)) {
                        self.send_on(conn, i, Msg::Data { conn, frame });
                    }
                }
                Effect::DropPeer { peer, reason } => {
                    panic!("node {i} dropped {peer}, an honest peer: {reason}")
                }
                Effect::WakeAt { at_ms } => self.nodes[i].engine_wake = Some(at_ms),
                Effect::DocChanged => {}
            }
        }
    }

    /// Some node edits its board (a widget of its own: every edit is one more to converge on).
    fn edit(&mut self) {
        let alive: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive)
            .collect();
        if alive.is_empty() {
            return;
        }
        let i = alive[self.rng.below(alive.len() as u64) as usize];
        let Some(engine) = self.nodes[i].engine.as_mut() else {
            return;
        };
        engine
            .board_mut()
            .add_widget(WidgetKind::Counter)
            .expect("an edit");
        self.edits += 1;
        self.engine(i, Event::LocalChange);
    }

    /// The network splits in two: the connections across break (both ends notice, a while
    /// later) and no signal crosses until it heals.
    fn split_network(&mut self) {
        self.split = true;
        for conn in 0..self.conns.len() {
            let c = &self.conns[conn];
            let [(a, la), (b, lb)] = c.ends;
            if c.closed || !c.established || !self.apart(a, b) {
                continue;
            }
            self.conns[conn].closed = true;
            for (node, link, other) in [(a, la, b), (b, lb, a)] {
                let peer = self.id_of(other);
                let delay = 1_000 + self.rng.below(5_000);
                let input = MeshInput::Failed {
                    peer,
                    link,
                    why: LinkFailure::ConnectionFailed,
                };
                self.send(node, delay, Msg::End { conn, input });
            }
        }
    }

    /// A signal from node `i` to `peer` through the server (lost at the loss rate).
    fn relay(&mut self, i: usize, peer: &PeerId, msg: impl FnOnce(PeerId) -> Msg) {
        let Some(from) = self.nodes[i].id.clone() else {
            return;
        };
        let Some(&to) = self.room.get(peer) else {
            return;
        };
        if self.lost() || self.apart(i, to) {
            return;
        }
        let delay = self.latency();
        self.send(to, delay, msg(from));
    }

    fn deliver(&mut self, i: usize, msg: Msg) {
        if !self.nodes[i].alive {
            return;
        }
        match msg {
            Msg::Welcome { socket } => {
                if self.nodes[i].socket != Some(socket) {
                    return;
                }
                let me = format!("{:016x}", self.rng.next());
                let peers: Vec<PeerId> = self.room.keys().cloned().collect();
                self.broadcast(&me, MeshInput::PeerJoined(me.clone()));
                self.room.insert(me.clone(), i);
                self.nodes[i].id = Some(me.clone());
                self.input(i, MeshInput::Welcome { me, peers });
            }
            Msg::Server { socket, input } => {
                if self.nodes[i].socket == Some(socket) {
                    self.input(i, input);
                }
            }
            Msg::Offer { from, conn } => {
                self.pending_offer = Some(conn);
                self.input(i, MeshInput::Offer(from));
                self.pending_offer = None;
            }
            Msg::Answer { conn } => {
                let c = &self.conns[conn];
                let (a, b) = (c.ends[0], c.ends[1]);
                if c.closed || !self.nodes[a.0].mesh.is_current(&self.id_of(b.0), a.1) {
                    return;
                }
                self.conns[conn].established = true;
                // ICE and DTLS: both ends see the channel open
                for (end, other) in [(a, b), (b, a)] {
                    let delay = self.latency();
                    let input = MeshInput::ChannelOpen(self.id_of(other.0), end.1);
                    self.send(end.0, delay, Msg::End { conn, input });
                }
            }
            Msg::End { conn, input } => {
                if !self.conns[conn].closed || matches!(input, MeshInput::Failed { .. }) {
                    self.input(i, input);
                }
            }
            Msg::Data { conn, frame } => {
                let Some((_, from, from_link)) = self.end_of(conn, i) else {
                    return;
                };
                let peer = self.id_of(from);
                let mine = self.nodes[i].mesh.link(&peer).copied();
                if self.conns[conn].closed
                    || !self.nodes[from].mesh.is_current(&self.id_of(i), from_link)
                    || !mine.is_some_and(|l| l.open && self.conn_of(i, l.id) == Some(conn))
                {
                    return;
                }
                self.engine(i, Event::Frame(peer, frame));
            }
        }
    }

    fn id_of(&self, node: usize) -> PeerId {
        self.nodes[node].id.clone().unwrap_or_default()
    }

    fn crash(&mut self, i: usize) {
        self.nodes[i].alive = false;
        self.server_forgets(i);
        // about half the time the other ends notice the connections die; else only the server
        // tells them that the peer left
        let notice = self.rng.chance(50);
        for conn in 0..self.conns.len() {
            let c = &self.conns[conn];
            if c.closed || !c.established {
                continue;
            }
            if let Some((_, other, other_link)) = self.end_of(conn, i) {
                self.conns[conn].closed = true;
                if notice {
                    let peer = self.id_of(i);
                    let delay = 1_000 + self.rng.below(5_000);
                    let input = MeshInput::Failed {
                        peer,
                        link: other_link,
                        why: LinkFailure::ConnectionFailed,
                    };
                    self.send(other, delay, Msg::End { conn, input });
                }
            }
        }
    }

    fn run_until(&mut self, end: u64, churn: bool) {
        while self.now < end {
            self.now += 50;
            while let Some(Reverse((at, _, node, msg))) = self.queue.peek().copied() {
                if at > self.now {
                    break;
                }
                self.queue.pop();
                if let Some(msg) = self.msgs[msg].take() {
                    self.deliver(node, msg);
                }
            }
            for i in 0..self.nodes.len() {
                if self.nodes[i].alive
                    && self.nodes[i]
                        .mesh
                        .wake_at()
                        .is_some_and(|at| at <= self.now)
                {
                    self.input(i, MeshInput::Tick);
                }
                if self.nodes[i].alive && self.nodes[i].engine_wake.is_some_and(|at| at <= self.now)
                {
                    self.nodes[i].engine_wake = None;
                    self.engine(i, Event::Tick);
                }
                let links = self.nodes[i].mesh.links().count();
                self.most_links = self.most_links.max(links);
            }
            if self.rng.below(1_000) < self.edit_rate {
                self.edit();
            }
            if churn {
                self.churn();
            }
        }
    }

    fn churn(&mut self) {
        let alive = self.alive();
        // a large room sees more of everything
        let fault = self
            .rng
            .below(if self.max_nodes > 20 { 300 } else { 1_000 });
        let kind = match fault {
            0..=2 => "socket drop",
            3 => "crash",
            4 => "leave",
            5..=6 => "join",
            7 => "split or heal",
            _ => "",
        };
        if !kind.is_empty() {
            *self.faults.entry(kind).or_default() += 1;
        }
        match fault {
            // a socket drops (the node reconnects under a new id)
            0..=2 if !alive.is_empty() => {
                let i = alive[self.rng.below(alive.len() as u64) as usize];
                self.server_forgets(i);
                self.input(i, MeshInput::SocketLost);
            }
            3 if alive.len() > 2 => {
                let i = alive[self.rng.below(alive.len() as u64) as usize];
                self.crash(i);
            }
            // a peer leaves for good: it closes its links and its socket
            4 if alive.len() > 2 => {
                let i = alive[self.rng.below(alive.len() as u64) as usize];
                self.input(i, MeshInput::SetOffline(true));
                self.nodes[i].alive = false;
            }
            5..=6 if alive.len() < self.max_nodes => {
                self.add_node();
            }
            // the network splits, or heals
            7 => {
                if self.split {
                    self.split = false;
                } else {
                    self.split_network();
                }
            }
            _ => {}
        }
    }

    fn alive(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive)
            .collect()
    }

    /// Every node holds exactly the links the overlay gives it among the living, each open and
    /// the same connection on both sides. Returns the most hops between two nodes.
    fn check(&self) -> usize {
        let alive = self.alive();
        let ids: Vec<PeerId> = alive
            .iter()
            .map(|&i| self.nodes[i].id.clone().expect("every node is in the room"))
            .collect();
        let node_of: BTreeMap<&PeerId, usize> = ids.iter().zip(alive.iter().copied()).collect();
        for (&i, me) in alive.iter().zip(&ids) {
            let n = &self.nodes[i];
            assert!(n.mesh.is_joined(), "node {i} is joined");
            let links: BTreeSet<PeerId> = n.mesh.links().map(|(p, _)| p.clone()).collect();
            let want = overlay(me, &ids, MeshPolicy::default().max_links);
            assert_eq!(links, want, "node {i} ({me}) holds the overlay's links");
            for other in &want {
                let j = node_of[other];
                let mine = n.mesh.link(other).expect("a link");
                let theirs = self.nodes[j].mesh.link(me).expect("and back");
                assert!(mine.open && theirs.open, "{me} and {other} linked and open");
                let conn = self.conn_of(i, mine.id).expect("a connection");
                assert_eq!(
                    self.conn_of(j, theirs.id),
                    Some(conn),
                    "the same connection"
                );
            }
        }
        // connected, and how far apart
        let mut worst = 0;
        for from in &ids {
            let mut hops = BTreeMap::from([(from, 0usize)]);
            let mut queue = VecDeque::from([from]);
            while let Some(p) = queue.pop_front() {
                let h = hops[p];
                for (q, _) in self.nodes[node_of[p]].mesh.links() {
                    let q = ids.iter().find(|id| *id == q).expect("a living peer");
                    if !hops.contains_key(q) {
                        hops.insert(q, h + 1);
                        queue.push_back(q);
                    }
                }
            }
            assert_eq!(hops.len(), ids.len(), "every node reaches every other");
            worst = worst.max(hops.into_values().max().unwrap_or(0));
        }
        worst
    }

    /// Every living node's board holds the same changes.
    fn check_boards(&mut self) {
        let mut heads = BTreeSet::new();
        for i in self.alive() {
            if let Some(engine) = self.nodes[i].engine.as_mut() {
                heads.insert(engine.board_mut().heads());
            }
        }
        assert_eq!(
            heads.len(),
            1,
            "every board is the same ({} edits)",
            self.edits
        );
    }
}

fn world_run(seed: u64, nodes: usize, max_nodes: usize, boards: bool) -> World {
    let mut w = World::new(seed, max_nodes, boards);
    for _ in 0..nodes {
        w.add_node();
    }
    w.edit_rate = if boards { 40 } else { 0 };
    w.run_until(30_000, false);
    w.check();
    let before = w.opened;
    // faults: lost signals, dropped sockets, crashes, leaves, newcomers, splits
    w.loss = 30;
    w.run_until(200_000, true);
    // healed
    w.loss = 0;
    w.split = false;
    w.edit_rate = 0;
    w.run_until(500_000, false);
    assert!(w.opened > before, "links were made again after the faults");
    w
}

#[test]
fn every_pair_of_peers_ends_up_with_one_open_link_after_faults() {
    for seed in [1, 2, 3, 4, 5, 6, 7, 8] {
        let w = world_run(seed, 6, 7, false);
        w.check();
        let alive = w.alive().len();
        assert!(alive >= 2, "seed {seed}: {alive} alive");
        assert!(w.most_links <= MeshPolicy::default().max_links);
    }
    // past the full mesh: an overlay
    for seed in [1, 2, 3, 4] {
        let w = world_run(seed, 10, 14, false);
        w.check();
        assert!(w.most_links <= MeshPolicy::default().max_links);
    }
}

#[test]
fn a_room_of_a_hundred_converges_over_a_bounded_overlay() {
    for seed in [11, 14] {
        let mut w = world_run(seed, 100, 100, true);
        let hops = w.check();
        w.check_boards();
        let alive = w.alive().len();
        println!(
            "seed {seed}: {alive} peers, {} edits, at most {} links, worst hop count {hops}, \
             faults {:?}",
            w.edits, w.most_links, w.faults
        );
        for kind in ["socket drop", "crash", "leave", "join", "split or heal"] {
            let n = w.faults.get(kind).copied().unwrap_or(0);
            assert!(n >= 3, "seed {seed}: {n} of {kind}");
        }
        assert!(alive > 80, "seed {seed}: {alive} alive");
        assert!(w.edits > 100, "seed {seed}: {} edits", w.edits);
        assert!(w.most_links <= MeshPolicy::default().max_links);
    }
}
