//! Reading a board, now or as it was at some heads (its history): the same schema-tolerant
//! readers either way, over Automerge's `get`/`get_at` and friends.

use automerge::{AutoCommit, ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};

use super::layout::{valid_pos, WidgetLayout, MAX_SIZE, POS, SIZE};
use super::{DONE, ITEMS, KIND, TEXT, TITLE, VALUE, WIDGETS};
use crate::view::{BoardView, TaskView, WidgetBody, WidgetKind, WidgetView};

/// Keys of one map read for the UI (a poll's votes): what a peer wrote past that is ignored.
const MAX_MAP_KEYS: usize = 4096;

/// A document read now (`at: None`) or at `at`.
#[derive(Clone, Copy)]
pub(super) struct Reading<'a> {
    pub(super) doc: &'a AutoCommit,
    pub(super) at: Option<&'a [ChangeHash]>,
}

impl Reading<'_> {
    fn get(
        &self,
        obj: &ObjId,
        prop: impl Into<automerge::Prop>,
    ) -> Result<Option<(Value<'_>, ObjId)>, automerge::AutomergeError> {
        match self.at {
            None => self.doc.get(obj, prop),
            Some(heads) => self.doc.get_at(obj, prop, heads),
        }
    }

    fn text(&self, obj: &ObjId) -> Result<String, automerge::AutomergeError> {
        match self.at {
            None => self.doc.text(obj),
            Some(heads) => self.doc.text_at(obj, heads),
        }
    }

    fn length(&self, obj: &ObjId) -> usize {
        match self.at {
            None => self.doc.length(obj),
            Some(heads) => self.doc.length_at(obj, heads),
        }
    }

    pub(super) fn obj(&self, parent: &ObjId, key: &str, typ: ObjType) -> Option<ObjId> {
        match self.get(parent, key) {
            Ok(Some((Value::Object(t), id))) if t == typ => Some(id),
            _ => None,
        }
    }

    pub(super) fn scalar(&self, parent: &ObjId, key: &str) -> Option<ScalarValue> {
        match self.get(parent, key) {
            Ok(Some((Value::Scalar(s), _))) => Some(s.into_owned()),
            _ => None,
        }
    }

    pub(super) fn text_of(&self, parent: &ObjId, key: &str) -> String {
        self.obj(parent, key, ObjType::Text)
            .and_then(|t| self.text(&t).ok())
            .unwrap_or_default()
    }

    pub(super) fn widgets_list(&self) -> Option<ObjId> {
        self.obj(&ROOT, WIDGETS, ObjType::List)
    }

    pub(super) fn list_maps(&self, list: &ObjId) -> Vec<ObjId> {
        (0..self.length(list))
            .filter_map(|i| match self.get(list, i) {
                Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
                _ => None,
            })
            .collect()
    }

    /// A map's keys that hold strings, with those strings (the first [`MAX_MAP_KEYS`] keys).
    pub(super) fn map_strings(&self, map: &ObjId) -> Vec<(String, String)> {
        let keys: Vec<String> = match self.at {
            None => self.doc.keys(map).take(MAX_MAP_KEYS).collect(),
            Some(heads) => self.doc.keys_at(map, heads).take(MAX_MAP_KEYS).collect(),
        };
        keys.into_iter()
            .filter_map(|k| match self.scalar(map, &k) {
                Some(ScalarValue::Str(s)) => Some((k, s.to_string())),
                _ => None,
            })
            .collect()
    }

    pub fn title(&self) -> String {
        self.text_of(&ROOT, TITLE)
    }

    /// The widget maps in the order they are shown: by position key (none first), then by
    /// their place in the list (see `layout.rs`).
    pub(super) fn ordered_widgets(&self) -> Vec<ObjId> {
        let Some(list) = self.widgets_list() else {
            return Vec::new();
        };
        let mut keyed: Vec<(Option<String>, usize, ObjId)> = self
            .list_maps(&list)
            .into_iter()
            .enumerate()
            .map(|(i, w)| {
                let pos = match self.scalar(&w, POS) {
                    Some(ScalarValue::Str(s)) if valid_pos(&s) => Some(s.to_string()),
                    _ => None,
                };
                (pos, i, w)
            })
            .collect();
        keyed.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        keyed.into_iter().map(|(_, _, w)| w).collect()
    }

    /// A widget's title and width.
    pub(super) fn layout_of(&self, widget: &ObjId) -> WidgetLayout {
        let size = match self.scalar(widget, SIZE) {
            Some(ScalarValue::Uint(n)) => n,
            Some(ScalarValue::Int(n)) => u64::try_from(n).unwrap_or(1),
            _ => 1,
        };
        WidgetLayout {
            title: self.text_of(widget, TITLE),
            size: u8::try_from(size.clamp(1, u64::from(MAX_SIZE))).unwrap_or(1),
        }
    }

    /// The whole board as plain data for the UI.
    pub fn view(&self) -> BoardView {
        let widgets = self
            .ordered_widgets()
            .into_iter()
            .filter_map(|w| self.widget_view(&w))
            .collect();
        BoardView {
            title: self.title(),
            widgets,
        }
    }

    /// The widgets' ids and kinds, in order, without their content.
    pub fn widget_kinds(&self) -> Vec<(String, WidgetKind)> {
        self.ordered_widgets()
            .into_iter()
            .filter_map(|w| match self.scalar(&w, KIND)? {
                ScalarValue::Str(s) => Some((w.to_string(), WidgetKind::parse(&s)?)),
                _ => None,
            })
            .collect()
    }

    pub(super) fn widget_view(&self, obj: &ObjId) -> Option<WidgetView> {
        let kind = match self.scalar(obj, KIND)? {
            ScalarValue::Str(s) => WidgetKind::parse(&s)?,
            _ => return None,
        };
        let body = match kind {
            WidgetKind::Note => WidgetBody::Note {
                text: self.text_of(obj, TEXT),
            },
            WidgetKind::Tasks => WidgetBody::Tasks {
                items: self
                    .obj(obj, ITEMS, ObjType::List)
                    .map(|items| {
                        self.list_maps(&items)
                            .into_iter()
                            .map(|item| TaskView {
                                id: item.to_string(),
                                text: match self.scalar(&item, TEXT) {
                                    Some(ScalarValue::Str(s)) => s.to_string(),
                                    _ => String::new(),
                                },
                                done: matches!(
                                    self.scalar(&item, DONE),
                                    Some(ScalarValue::Boolean(true))
                                ),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            WidgetKind::Poll => WidgetBody::Poll(self.poll_view(obj)),
            WidgetKind::Kanban => WidgetBody::Kanban(self.kanban_view(obj)),
            WidgetKind::Counter => WidgetBody::Counter {
                value: self
                    .scalar(obj, VALUE)
                    .and_then(|v| v.to_i64())
                    .unwrap_or(0),
            },
        };
        Some(WidgetView {
            id: obj.to_string(),
            body,
        })
    }
}
