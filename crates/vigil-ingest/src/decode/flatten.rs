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
    /// Everything as the string Windows would write, without trailing blanks (Windows
    /// events, see `windows`).
    Text,
}

/// The value of a scalar JSON node.
pub(crate) fn scalar(v: &Json, mode: Scalars) -> Value {
    if mode == Scalars::Text {
        if let Json::Str(s) = v
            && let Some(guid) = canonical_guid(s)
        {
            return Value::str(guid);
        }
        // Windows keeps trailing blanks (`"cmd.exe" `); evtx_dump's JSON, which SigmaHQ
        // validates its rules against, trims them. Rules are written for the trimmed form.
        return Value::str(v.to_text().unwrap_or_default().trim_end());
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

/// A GUID in the form the `evtx` crate renders GUID values (`{lowercase}`), for a string that
/// is exactly a GUID with or without braces. evtx_dump's older JSON (the SigmaHQ regression
/// data) wrote them upper-case without braces; one form keeps EVTX and JSON equal.
fn canonical_guid(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let inner = match bytes.len() {
        36 => bytes,
        38 if bytes[0] == b'{' && bytes[37] == b'}' => &bytes[1..37],
        _ => return None,
    };
    let shaped = inner.iter().enumerate().all(|(i, b)| match i {
        8 | 13 | 18 | 23 => *b == b'-',
        _ => b.is_ascii_hexdigit(),
    });
    if !shaped || (bytes.len() == 38 && !inner.iter().any(u8::is_ascii_uppercase)) {
        return None;
    }
    let mut out = String::with_capacity(38);
    out.push('{');
    out.extend(inner.iter().map(|b| b.to_ascii_lowercase() as char));
    out.push('}');
    Some(out)
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

    #[test]
    fn guids_get_one_form() {
        let text = |s: &str| scalar(&Json::Str(s.into()), Scalars::Text);
        let want = Value::str("{5770385f-c22a-43e0-bf4c-06f5698ffbd9}");
        assert_eq!(text("5770385F-C22A-43E0-BF4C-06F5698FFBD9"), want);
        assert_eq!(text("{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"), want);
        assert_eq!(text("{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"), want);
        assert_eq!(
            text("5770385F-C22A-43E0-BF4C-06F5698FFBDZ"),
            Value::str("5770385F-C22A-43E0-BF4C-06F5698FFBDZ")
        );
        let native = scalar(
            &Json::Str("5770385F-C22A-43E0-BF4C-06F5698FFBD9".into()),
            Scalars::Native,
        );
        assert_eq!(native, Value::str("5770385F-C22A-43E0-BF4C-06F5698FFBD9"));
    }
}
