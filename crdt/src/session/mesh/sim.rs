//! Many meshes, a signaling server and the links between them, simulated: signals are lost and
//! delayed, sockets drop, peers crash and come back under new ids. After the faults stop, every
//! pair of peers in the room must hold one open link, the same one on both sides, and nobody a
//! link to a peer that is gone.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use super::*;

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
}

struct Node {
    mesh: Mesh,
    alive: bool,
    /// The socket the server knows this node by (`None`: not connected), counted up on each
    /// new one so that messages for an older socket are dropped.
    socket: Option<u64>,
    /// The node's id in the room, once welcomed.
    id: Option<PeerId>,
}

/// A peer connection: the offering end, and the answering end once it answered.
struct Conn {
    ends: [(usize, LinkId); 2],
    answered: bool,
    established: bool,
    closed: bool,
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
    /// Per cent of relayed signals lost.
    loss: u64,
    opened: usize,
    /// The offer being passed in: the executor answers it.
    pending_offer: Option<usize>,
}

impl World {
    fn new(seed: u64) -> Self {
        World {
            rng: Rng(seed | 1),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            msgs: Vec::new(),
            nodes: Vec::new(),
            conns: Vec::new(),
            room: BTreeMap::new(),
            next_socket: 0,
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
        self.nodes.push(Node {
            mesh: Mesh::new(MeshPolicy::default(), seed),
            alive: true,
            socket: None,
            id: None,
        });
        let i = self.nodes.len() - 1;
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
                let delay = self.latency();
                let input = input.clone();
                self.send(n, delay, Msg::Server { socket, input });
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
                if self.nodes[offerer].socket.is_some() && !self.lost() {
                    let delay = self.latency();
                    self.send(offerer, delay, Msg::Answer { conn });
                }
            }
            MeshCommand::SendProof { link, .. } => {
                let Some(conn) = self.conn_of(i, link) else {
                    return;
                };
                if let Some((_, other, other_link)) = self.end_of(conn, i) {
                    let peer = self.nodes[i].id.clone().unwrap_or_default();
                    let delay = self.latency();
                    let input = MeshInput::Proof {
                        peer,
                        link: other_link,
                        valid: true,
                    };
                    self.send(other, delay, Msg::End { conn, input });
                }
            }
            MeshCommand::Opened { .. } => self.opened += 1,
            MeshCommand::Close { link, .. } => {
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

    /// A signal from node `i` to `peer` through the server (lost at the loss rate).
    fn relay(&mut self, i: usize, peer: &PeerId, msg: impl FnOnce(PeerId) -> Msg) {
        let Some(from) = self.nodes[i].id.clone() else {
            return;
        };
        let Some(&to) = self.room.get(peer) else {
            return;
        };
        if self.lost() {
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
            }
            if churn {
                self.churn();
            }
        }
    }

    fn churn(&mut self) {
        let alive: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive)
            .collect();
        match self.rng.below(1_000) {
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
            4 if alive.len() < 12 => {
                self.add_node();
            }
            _ => {}
        }
    }

    fn check(&self) {
        let alive: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive)
            .collect();
        for &i in &alive {
            let n = &self.nodes[i];
            let me = n.id.as_ref().expect("every node is in the room");
            assert!(n.mesh.is_joined(), "node {i} is joined");
            let links: Vec<&PeerId> = n.mesh.links().map(|(p, _)| p).collect();
            assert_eq!(
                links.len(),
                alive.len() - 1,
                "node {i} ({me}) links {links:?}"
            );
            for &j in &alive {
                if i == j {
                    continue;
                }
                let other = self.nodes[j].id.as_ref().expect("in the room");
                let mine = n.mesh.link(other).expect("a link to every other node");
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
    }
}

fn world_run(seed: u64) -> World {
    let mut w = World::new(seed);
    for _ in 0..6 {
        w.add_node();
    }
    w.run_until(20_000, false);
    w.check();
    let before = w.opened;
    // faults: lost signals, dropped sockets, crashes, newcomers
    w.loss = 30;
    w.run_until(200_000, true);
    // healed
    w.loss = 0;
    w.run_until(500_000, false);
    w.check();
    assert!(w.opened > before, "links were made again after the faults");
    w
}

#[test]
fn every_pair_of_peers_ends_up_with_one_open_link_after_faults() {
    for seed in [1, 2, 3, 4, 5, 6, 7, 8] {
        let w = world_run(seed);
        let alive = w.nodes.iter().filter(|n| n.alive).count();
        assert!(alive >= 2, "seed {seed}: {alive} alive");
    }
}
