//! Meshboard vendor patch (see PATCHES.md): a change from a peer or from storage is checked
//! against the document before any of it is applied.
//!
//! automerge 0.6.1 as published takes much of this for granted: a change that breaks it made
//! `apply_changes` panic (an actor index out of range, an op id beyond `u32`, a map key in a
//! sequence), or was applied and then written by `save()` into a document that `load` refuses
//! (a sequence number that skips or repeats, an op that does not survive the trip through the
//! op set, a change not in the canonical encoding, whose hash changes when `save()` writes it
//! again from the ops).
use std::borrow::Cow;
use std::collections::HashMap;

use crate::columnar::Key as EncodedKey;
use crate::convert;
use crate::op_set::OpBuilder;
use crate::storage::{self, AsChangeOp, ChangeOp};
use crate::types::{ActorId, Key, MarkData, ObjId, ObjType, OpId, OpIds, OpType, ScalarValue};
use crate::{Automerge, AutomergeError, Change};

impl Automerge {
    /// Refuse `change` unless: its sequence number is its actor's next one; its op counters
    /// follow the actor's previous change and fit an `OpId`; every op's action and value agree;
    /// every actor index is in the change's actor list; every op targets the root, an object of
    /// this document or one made earlier in the change, with a key of the object's kind (a
    /// property in a map, an element in a sequence) and marks only in sequences; and the change,
    /// encoded again from its ops as `save()` would, has the same hash.
    pub(super) fn check_change(&self, change: &Change) -> Result<(), AutomergeError> {
        let reject = |why: &str| {
            Err(AutomergeError::InvalidChange {
                hash: change.hash(),
                why: why.to_string(),
            })
        };
        let actor = self.ops.osd.actors.lookup(change.actor_id());
        let prior = actor.and_then(|a| self.states.get(&a));
        let expected_seq = prior.map_or(0, |s| s.len()) as u64 + 1;
        if change.seq() != expected_seq {
            return reject("sequence number is not its actor's next");
        }
        let start = change.start_op().get();
        if let Some(previous) = prior.and_then(|s| s.last()).map(|i| &self.history[*i]) {
            if start <= previous.max_op() {
                return reject("op counters overlap the actor's previous change");
            }
        }
        match start.checked_add(change.len() as u64) {
            Some(end) if end <= u64::from(u32::MAX) => {}
            _ => return reject("op counter out of range"),
        }
        let mut actors = Vec::with_capacity(change.other_actor_ids().len() + 1);
        actors.push(change.actor_id().clone());
        actors.extend(change.other_actor_ids().iter().cloned());
        if actors.len() > u32::MAX as usize {
            return reject("too many actors");
        }
        let in_range = |id: &OpId| id.actor() < actors.len();
        // the object types of the objects made earlier in this change, by op counter
        let mut made: HashMap<u64, ObjType> = HashMap::new();
        let mut canonical = Vec::with_capacity(change.len());
        for (i, op) in change.iter_ops().enumerate() {
            if OpType::validate_action_and_value(op.action, &op.val).is_err() {
                return reject("unknown action, or a non-numeric increment");
            }
            let elem_in_range = match &op.key {
                EncodedKey::Elem(e) => e.is_head() || in_range(&e.0),
                EncodedKey::Prop(_) => true,
            };
            if !in_range(op.obj.opid()) || !op.pred.iter().all(in_range) || !elem_in_range {
                return reject("actor index out of range");
            }
            let typ = if op.obj.is_root() {
                Some(ObjType::Map)
            } else {
                let id = op.obj.opid();
                let local = id.actor() == 0 && id.counter() >= start;
                if local {
                    made.get(&id.counter()).copied()
                } else {
                    self.ops
                        .osd
                        .actors
                        .lookup(&actors[id.actor()])
                        .and_then(|g| self.ops.object_type(&ObjId(OpId::new(id.counter(), g))))
                }
            };
            let Some(typ) = typ else {
                return reject("op on an unknown object");
            };
            let fits = match &op.key {
                EncodedKey::Prop(_) => !typ.is_sequence() && !op.insert,
                EncodedKey::Elem(_) => typ.is_sequence(),
            };
            if !fits || (op.action == 7 && !typ.is_sequence()) {
                return reject("key or action does not fit the object's type");
            }
            let action = OpType::from_action_and_value(
                op.action,
                op.val.clone(),
                op.mark_name.clone(),
                op.expand,
            );
            if let OpType::Make(t) = action {
                made.insert(start + i as u64, t);
            }
            canonical.push(Canonical { op, action });
        }
        let again = storage::Change::builder()
            .with_dependencies(change.deps().to_vec())
            .with_actor(change.actor_id().clone())
            .with_seq(change.seq())
            .with_start_op(change.start_op())
            .with_timestamp(change.timestamp())
            .with_message(change.message().cloned())
            .with_extra_bytes(change.extra_bytes().to_vec())
            .build(canonical.iter().map(|op| WithActors {
                op,
                actors: &actors,
            }));
        match again {
            Ok(again) if again.hash() == change.hash() => Ok(()),
            _ => reject("not in the form save() writes"),
        }
    }
}

impl Automerge {
    /// Refuse a change (its ops as `import_ops` made them) unless every element a sequence op
    /// names is in its object, and every predecessor of every op is an op of the same object at
    /// the same key that `insert_op` will find (an earlier op of the change, or one of the
    /// document's, older by Lamport order); an insert has none and a delete at least one.
    /// Otherwise the op set would drop the predecessor (it keeps successors on the ops it finds)
    /// or the whole delete, `save()` would write another change, or name an actor it has no
    /// index for (a panic).
    pub(super) fn check_preds(
        &mut self,
        change: &Change,
        ops: &[(ObjId, OpBuilder, OpIds)],
    ) -> Result<(), AutomergeError> {
        let reject = |why: &str| {
            Err(AutomergeError::InvalidChange {
                hash: change.hash(),
                why: why.to_string(),
            })
        };
        // where the change's own ops go: (object, key)
        let mut own: HashMap<OpId, (ObjId, Key)> = HashMap::new();
        for (obj, op, pred) in ops {
            let at = (*obj, op.elemid_or_key());
            if op.insert && !pred.is_empty() {
                return reject("an insert with predecessors");
            }
            if op.is_delete() && pred.is_empty() {
                return reject("a delete of nothing");
            }
            // the element a sequence op names: one this change inserted in this object, or
            // one of the document's
            let elem = match op.key {
                Key::Seq(e) if !e.is_head() => match own.get(&e.0) {
                    Some(place) if *place == (*obj, Key::Seq(e)) => false,
                    Some(_) => return reject("an element elsewhere"),
                    None => true,
                },
                _ => false,
            };
            let mut theirs = Vec::new();
            for p in pred.iter() {
                match own.get(p) {
                    Some(place) if *place == at && p < &op.id => {}
                    Some(_) => return reject("a predecessor elsewhere"),
                    None => theirs.push(*p),
                }
            }
            if elem || !theirs.is_empty() {
                let theirs = self.ops.osd.sorted_opids(theirs.into_iter());
                if !self.ops.dry_run(obj, op.clone(), &theirs, elem) {
                    return reject("an element or a predecessor that is not there");
                }
            }
            own.insert(op.id, at);
        }
        Ok(())
    }
}

/// An op of the change as the op set holds it (`OpType` drops what an action does not use).
struct Canonical {
    op: ChangeOp,
    action: OpType,
}

/// An op of the change, its ids resolved to the change's actors, as `save()` writes it.
#[derive(Clone, Copy)]
struct WithActors<'a> {
    op: &'a Canonical,
    actors: &'a [ActorId],
}

struct ActorOpId<'a> {
    id: OpId,
    actors: &'a [ActorId],
}

impl<'a> convert::OpId<&'a ActorId> for ActorOpId<'a> {
    fn counter(&self) -> u64 {
        self.id.counter()
    }

    fn actor(&self) -> &'a ActorId {
        // in range: checked before this is built
        &self.actors[self.id.actor()]
    }
}

impl<'a> WithActors<'a> {
    fn id(&self, id: OpId) -> ActorOpId<'a> {
        ActorOpId {
            id,
            actors: self.actors,
        }
    }
}

impl<'a> AsChangeOp<'a> for WithActors<'a> {
    type ActorId = &'a ActorId;
    type OpId = ActorOpId<'a>;
    type PredIter = std::vec::IntoIter<ActorOpId<'a>>;

    fn obj(&self) -> convert::ObjId<Self::OpId> {
        if self.op.op.obj.is_root() {
            convert::ObjId::Root
        } else {
            convert::ObjId::Op(self.id(*self.op.op.obj.opid()))
        }
    }

    fn key(&self) -> convert::Key<'a, Self::OpId> {
        match &self.op.op.key {
            EncodedKey::Prop(s) => convert::Key::Prop(Cow::Borrowed(s)),
            EncodedKey::Elem(e) if e.is_head() => convert::Key::Elem(convert::ElemId::Head),
            EncodedKey::Elem(e) => convert::Key::Elem(convert::ElemId::Op(self.id(e.0))),
        }
    }

    fn insert(&self) -> bool {
        self.op.op.insert
    }

    fn action(&self) -> u64 {
        self.op.action.action_index()
    }

    fn val(&self) -> Cow<'a, ScalarValue> {
        match &self.op.action {
            OpType::Make(..) | OpType::Delete | OpType::MarkEnd(..) => {
                Cow::Owned(ScalarValue::Null)
            }
            OpType::Increment(i) => Cow::Owned(ScalarValue::Int(*i)),
            OpType::Put(s) => Cow::Borrowed(s),
            OpType::MarkBegin(_, MarkData { value, .. }) => Cow::Borrowed(value),
        }
    }

    fn pred(&self) -> Self::PredIter {
        // the op set keeps predecessors in Lamport order
        let mut pred: Vec<_> = self.op.op.pred.iter().map(|p| self.id(*p)).collect();
        pred.sort_by(|a, b| {
            (a.id.counter(), &self.actors[a.id.actor()])
                .cmp(&(b.id.counter(), &self.actors[b.id.actor()]))
        });
        pred.into_iter()
    }

    fn expand(&self) -> bool {
        matches!(
            self.op.action,
            OpType::MarkBegin(true, _) | OpType::MarkEnd(true)
        )
    }

    fn mark_name(&self) -> Option<Cow<'a, smol_str::SmolStr>> {
        match &self.op.action {
            OpType::MarkBegin(_, MarkData { name, .. }) => Some(Cow::Borrowed(name)),
            _ => None,
        }
    }
}
