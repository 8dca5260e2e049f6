//! Target `frame_decode`: `frame::decode` and the payload parsers on arbitrary and mutated bytes.

use crdt::automerge::ChangeHash;
use crdt::frame::{self, Changes, ChunkInfo, DocPayload, FrameKind, Header, Hello, MAX_HEADER};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::mutate::{self, Mutation};

#[derive(Debug, Clone)]
pub enum Payload {
    Raw(Vec<u8>),
    Hello {
        reply_to: u64,
        heads: Vec<[u8; 32]>,
    },
    Changes {
        heads: Vec<[u8; 32]>,
        changes: Vec<Vec<u8>>,
    },
    Doc {
        heads: Vec<[u8; 32]>,
        doc: Vec<u8>,
    },
}

impl Payload {
    fn encode(&self) -> Vec<u8> {
        let hashes = |h: &[[u8; 32]]| h.iter().map(|h| ChangeHash(*h)).collect::<Vec<_>>();
        match self {
            Payload::Raw(b) => b.clone(),
            Payload::Hello { reply_to, heads } => Hello {
                reply_to: *reply_to,
                heads: hashes(heads),
            }
            .encode(),
            Payload::Changes { heads, changes } => {
                Changes::encode(&hashes(heads), changes.iter().map(Vec::as_slice))
            }
            Payload::Doc { heads, doc } => DocPayload::encode(&hashes(heads), doc),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Input {
    Raw(Vec<u8>),
    Built {
        header: Header,
        payload: Payload,
        mutations: Vec<Mutation>,
    },
}

fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0u64..4,
        2 => 0u64..1000,
        1 => Just(u64::MAX),
        1 => any::<u64>(),
    ]
}

fn hash() -> impl Strategy<Value = [u8; 32]> {
    prop_oneof![any::<u8>().prop_map(|b| [b; 32]), any::<[u8; 32]>()]
}

fn header() -> impl Strategy<Value = Header> {
    let chunk =
        (number(), number(), number(), number()).prop_map(|(message, index, count, total)| {
            ChunkInfo {
                message,
                index,
                count,
                total,
            }
        });
    (
        0..FrameKind::ALL.len(),
        number(),
        number(),
        number(),
        number(),
        proptest::option::weighted(0.3, chunk),
    )
        .prop_map(|(kind, epoch, seq, ack_epoch, ack_count, chunk)| Header {
            kind: FrameKind::ALL[kind],
            epoch,
            seq,
            ack_epoch,
            ack_count,
            chunk,
        })
}

fn payload() -> impl Strategy<Value = Payload> {
    let heads = || vec(hash(), 0..4);
    prop_oneof![
        vec(any::<u8>(), 0..64).prop_map(Payload::Raw),
        (number(), heads()).prop_map(|(reply_to, heads)| Payload::Hello { reply_to, heads }),
        (heads(), vec(vec(any::<u8>(), 0..24), 0..5))
            .prop_map(|(heads, changes)| Payload::Changes { heads, changes }),
        (heads(), vec(any::<u8>(), 0..64)).prop_map(|(heads, doc)| Payload::Doc { heads, doc }),
    ]
}

pub fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        1 => vec(any::<u8>(), 0..128).prop_map(Input::Raw),
        1 => (Just(2u8), vec(any::<u8>(), 0..128)).prop_map(|(v, mut rest)| {
            rest.insert(0, v);
            Input::Raw(rest)
        }),
        4 => (header(), payload(), mutate::mutations(4)).prop_map(|(header, payload, mutations)| {
            Input::Built {
                header,
                payload,
                mutations,
            }
        }),
    ]
}

/// What `decode` must say about an unmutated encoding.
fn valid(h: &Header, payload: &[u8]) -> bool {
    h.epoch != 0
        && match h.chunk {
            None => h.kind != FrameKind::Ack || payload.is_empty(),
            Some(c) => {
                h.kind != FrameKind::Ack && c.count >= 2 && c.index < c.count && !payload.is_empty()
            }
        }
}

fn check_payload_parsers(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(hello) = Hello::decode(bytes) {
        prop_assert!(hello.heads.len() * 32 <= bytes.len());
        prop_assert_eq!(Hello::decode(&hello.encode()), Ok(hello));
    }
    if let Ok(changes) = Changes::decode(bytes) {
        prop_assert!(changes.heads.len() * 32 <= bytes.len());
        prop_assert!(changes.changes.len() <= bytes.len());
        let again = Changes::encode(&changes.heads, changes.changes.iter().copied());
        prop_assert_eq!(Changes::decode(&again), Ok(changes));
    }
    if let Ok(doc) = DocPayload::decode(bytes) {
        prop_assert!(doc.heads.len() * 32 + doc.doc.len() <= bytes.len());
        prop_assert!(bytes.ends_with(doc.doc));
        let again = DocPayload::encode(&doc.heads, doc.doc);
        prop_assert_eq!(DocPayload::decode(&again), Ok(doc));
    }
    Ok(())
}

pub fn check(input: Input) -> Result<(), TestCaseError> {
    let (bytes, expect) = match &input {
        Input::Raw(b) => (b.clone(), None),
        Input::Built {
            header,
            payload,
            mutations,
        } => {
            let p = payload.encode();
            let encoded = frame::encode(header, &p);
            prop_assert!(encoded.len() - p.len() <= MAX_HEADER);
            prop_assert_eq!(encoded.len() - p.len(), frame::header_len(header));
            if mutations.is_empty() {
                let ok = valid(header, &p);
                (encoded, Some((*header, p, ok)))
            } else {
                let donors: [&[u8]; 2] = [&encoded, &p];
                let bytes = mutate::mutated(&encoded, mutations, &donors);
                (bytes, None)
            }
        }
    };
    let decoded = frame::decode(&bytes);
    if let Some((header, payload, valid)) = expect {
        prop_assert_eq!(decoded.is_ok(), valid, "{:?}", decoded);
        if let Ok(f) = &decoded {
            prop_assert_eq!(f.header, header);
            prop_assert_eq!(f.payload, &payload[..]);
        }
    }
    check_payload_parsers(&bytes)?;
    if let Ok(f) = decoded {
        prop_assert!(bytes.ends_with(f.payload));
        prop_assert!(frame::header_len(&f.header) <= MAX_HEADER);
        prop_assert!(
            valid(&f.header, f.payload),
            "decoded an invalid frame {:?}",
            f
        );
        // what was decoded encodes to something that decodes to the same frame
        let again = frame::encode(&f.header, f.payload);
        prop_assert_eq!(frame::decode(&again), Ok(f));
        prop_assert!(
            again.len() <= bytes.len(),
            "canonical encoding is never longer"
        );
        check_payload_parsers(f.payload)?;
    }
    Ok(())
}
