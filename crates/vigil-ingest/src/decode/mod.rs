//! One file per format; `windows` holds the normalisation that the EVTX decoder and the JSON
//! renderings of Windows events share, so both yield the same fields for the same event.

pub(crate) mod evtx;
pub(crate) mod flatten;
pub(crate) mod json;
pub(crate) mod tree;
pub(crate) mod windows;

use vigil_core::{Event, Symbol, Value};

/// Appends a field; a name the event already has turns its value into a list (Sigma matches
/// a list when any element matches), so a repeated name never hides a value.
pub(crate) fn put(event: &mut Event, name: &str, value: Value) {
    put_sym(event, Symbol::intern(name), value);
}

/// [`put`] with an interned name.
pub(crate) fn put_sym(event: &mut Event, name: Symbol, value: Value) {
    if event.get(name).is_none() {
        event.push(name, value);
        return;
    }
    let old = event.get(name).cloned().unwrap_or(Value::Null);
    let merged = match (old, value) {
        (Value::List(mut a), Value::List(b)) => {
            a.extend(b);
            a
        }
        (Value::List(mut a), v) => {
            a.push(v);
            a
        }
        (o, Value::List(mut b)) => {
            b.insert(0, o);
            b
        }
        (o, v) => vec![o, v],
    };
    event.set(name, Value::List(merged));
}
