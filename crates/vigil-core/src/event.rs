//! The event every decoder produces and every detector consumes.

use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;

use crate::{LogSource, Symbol, Value};

/// One field of an event: an interned (flattened, dotted) name and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: Symbol,
    pub value: Value,
}

/// Where an event came from, so every detection can be traced back to its bytes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SourceRef {
    /// The file (or stream name) the event was read from; shared by all its events.
    pub file: Arc<str>,
    /// The record number inside the source (EVTX `EventRecordID`, or the 1-based record index).
    pub record_id: Option<u64>,
    /// Byte offset of the record in the file, when the format has one.
    pub offset: Option<u64>,
}

/// A decoded event: native fields (flattened with dotted paths for nested objects), its
/// logsource, time, and origin.
///
/// Fields are kept in decode order in a small vector; lookups compare interned symbols, which
/// for the 10–60 fields of a log record is faster than hashing and allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct Event {
    fields: Vec<Field>,
    /// The field names again, densely packed: lookups scan 4-byte keys instead of striding
    /// over whole fields (the detection hot path does several dozen lookups per event).
    names: Vec<Symbol>,
    /// The Sigma logsource the decoder assigned (for Windows: `product: windows` and the
    /// `service` derived from the channel).
    pub logsource: LogSource,
    /// Event time from the log, when it has one.
    pub time: Option<Timestamp>,
    /// Where the event was read from.
    pub source: SourceRef,
}

impl Event {
    /// An empty event from `source`.
    pub fn new(source: SourceRef) -> Self {
        Event {
            source,
            ..Default::default()
        }
    }

    /// An empty event from `source` with room for `fields` fields (decoders know roughly how
    /// many a record has; growing the vector shows in decode profiles).
    pub fn with_capacity(source: SourceRef, fields: usize) -> Self {
        Event {
            fields: Vec::with_capacity(fields),
            names: Vec::with_capacity(fields),
            source,
            ..Default::default()
        }
    }

    /// Appends a field. A repeated name keeps the first value for [`Event::get`] (decoders
    /// that meet repeated names should build a [`Value::List`] instead).
    pub fn push(&mut self, name: Symbol, value: Value) {
        self.names.push(name);
        self.fields.push(Field { name, value });
    }

    /// Appends a field by name.
    pub fn insert(&mut self, name: &str, value: Value) {
        self.push(Symbol::intern(name), value);
    }

    /// The value of field `name`, if present.
    #[inline]
    pub fn get(&self, name: Symbol) -> Option<&Value> {
        self.names
            .iter()
            .position(|n| *n == name)
            .map(|i| &self.fields[i].value)
    }

    /// The value of field `name` given as a string (convenience for tests and output).
    pub fn get_str(&self, name: &str) -> Option<&Value> {
        Symbol::lookup(name).and_then(|s| self.get(s))
    }

    /// Replaces the value of `name`, or appends it.
    pub fn set(&mut self, name: Symbol, value: Value) {
        match self.names.iter().position(|n| *n == name) {
            Some(i) => self.fields[i].value = value,
            None => self.push(name, value),
        }
    }

    /// All fields in decode order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The field names in decode order (as in [`Event::fields`]), densely packed: comparing an
    /// event's shape with another's reads a few cache lines instead of every field.
    pub fn names(&self) -> &[Symbol] {
        &self.names
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when the event has no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The event's fields as a flat JSON object (for output).
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::with_capacity(self.fields.len());
        for f in &self.fields {
            map.insert(f.name.as_str().to_string(), f.value.to_json());
        }
        serde_json::Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_set_and_json() {
        let mut e = Event::new(SourceRef {
            file: "x.evtx".into(),
            record_id: Some(7),
            offset: None,
        });
        e.insert("EventID", Value::Int(1));
        e.insert("Image", Value::str("C:\\a.exe"));
        assert_eq!(e.get_str("EventID"), Some(&Value::Int(1)));
        e.set(Symbol::intern("EventID"), Value::Int(4688));
        assert_eq!(e.get_str("EventID"), Some(&Value::Int(4688)));
        assert_eq!(e.len(), 2);
        assert_eq!(e.to_json()["Image"], "C:\\a.exe");
    }
}
