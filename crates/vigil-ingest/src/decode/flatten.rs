//! Generic JSON → fields: nested objects become dotted names (`a.b.c`).
//!
//! Arrays: an array of scalars becomes one [`Value::List`]. The elements of an array of
//! objects are flattened under the same dotted prefix, and a name met in several elements
//! collects its values into a list (`a: [{b: 1}, {b: 2}]` → `a.b = [1, 2]`); a name met once
//! keeps a scalar. That keeps every leaf value addressable by the dotted path a Sigma rule
//! would name, at the cost of losing which element a value came from.

use vigil_core::{Event, Value};

use super::put;
use super::tree::Json;

/// How scalars become values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scalars {
    /// Keep JSON types (generic JSON logs).
    Native,
    /// Everything as the string Windows would write (Windows events, see `windows`).
    Text,
}

/// The value of a scalar JSON node.
pub(crate) fn scalar(v: &Json, mode: Scalars) -> Value {
    if mode == Scalars::Text {
        return Value::str(v.to_text().unwrap_or_default());
    }
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Int(i) => Value::Int(*i),
        // Past i64: keep every digit rather than round through f64.
        Json::UInt(u) => Value::str(u.to_string()),
        Json::Float(x) => Value::Float(*x),
        Json::Str(s) => Value::str(s.as_ref()),
        Json::Array(_) | Json::Object(_) => Value::Null,
    }
}

/// Flattens `v` into `event` under the dotted name in `prefix` (empty at the top).
pub(crate) fn flatten(prefix: &mut String, v: &Json, mode: Scalars, event: &mut Event) {
    match v {
        Json::Object(members) => {
            for (key, child) in members {
                let len = prefix.len();
                if len > 0 {
                    prefix.push('.');
                }
                prefix.push_str(key);
                flatten(prefix, child, mode, event);
                prefix.truncate(len);
            }
        }
        Json::Array(items) if items.iter().all(Json::is_scalar) => {
            if !prefix.is_empty() {
                let list = items.iter().map(|i| scalar(i, mode)).collect();
                put(event, prefix, Value::List(list));
            }
        }
        Json::Array(items) => {
            for item in items {
                flatten(prefix, item, mode, event);
            }
        }
        _ if prefix.is_empty() => {}
        scalar_node => put(event, prefix, scalar(scalar_node, mode)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(text: &str) -> Event {
        let v: Json = serde_json::from_str(text).unwrap();
        let mut e = Event::default();
        flatten(&mut String::new(), &v, Scalars::Native, &mut e);
        e
    }

    #[test]
    fn dotted_paths_and_lists() {
        let e =
            flat(r#"{"a":{"b":{"c":1}},"t":["x","y"],"o":[{"k":1},{"k":2,"z":true}],"n":null}"#);
        assert_eq!(e.get_str("a.b.c"), Some(&Value::Int(1)));
        assert_eq!(
            e.get_str("t"),
            Some(&Value::List(vec![Value::str("x"), Value::str("y")]))
        );
        assert_eq!(
            e.get_str("o.k"),
            Some(&Value::List(vec![Value::Int(1), Value::Int(2)]))
        );
        assert_eq!(e.get_str("o.z"), Some(&Value::Bool(true)));
        assert_eq!(e.get_str("n"), Some(&Value::Null));
        assert_eq!(e.len(), 5);
    }
}
