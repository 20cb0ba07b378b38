//! Typed field values.
//!
//! Strings carry their lowercase form, computed once when the event is built, so that Sigma's
//! case-insensitive comparisons (the default for every plain value and wildcard) are plain byte
//! comparisons against a pre-lowered pattern: nothing is allocated while rules are evaluated.

use std::fmt;

use serde::Serialize;

/// A string field value with its lowercase form (stored only when it differs from the original).
#[derive(Clone, PartialEq, Eq)]
pub struct Text {
    raw: Box<str>,
    lower: Option<Box<str>>,
}

impl Text {
    /// Wraps `raw`, lowering it once if it has any uppercase character.
    pub fn new(raw: impl Into<Box<str>>) -> Self {
        let raw: Box<str> = raw.into();
        // Most log values are ASCII: lowering them needs no Unicode tables.
        let lower = if raw.is_ascii() {
            raw.bytes()
                .any(|b| b.is_ascii_uppercase())
                .then(|| raw.to_ascii_lowercase().into_boxed_str())
        } else if raw.chars().any(char::is_uppercase) {
            Some(raw.to_lowercase().into_boxed_str())
        } else {
            None
        };
        Text { raw, lower }
    }

    /// The value as it appeared in the log.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The value lowercased (Unicode-aware), for case-insensitive matching.
    pub fn lower(&self) -> &str {
        self.lower.as_deref().unwrap_or(&self.raw)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.raw, f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text::new(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text::new(s)
    }
}

/// A field value as decoded from a log.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// Present but null (`null` in JSON, an empty EVTX element is a `Str("")`).
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Text),
    /// A JSON array / repeated element: a Sigma value matches if any element matches.
    List(Vec<Value>),
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<Box<str>>) -> Value {
        Value::Str(Text::new(s))
    }

    /// The string if this is a string value.
    pub fn as_text(&self) -> Option<&Text> {
        match self {
            Value::Str(t) => Some(t),
            _ => None,
        }
    }

    /// Writes the canonical string form of a scalar into `buf` and returns it (strings are
    /// borrowed as they are; numbers and bools are formatted into `buf`). Lists and null have
    /// none. This is how a rule's `4688` matches both the number 4688 and the string "4688".
    pub fn scalar_str<'a>(&'a self, buf: &'a mut String) -> Option<&'a str> {
        use std::fmt::Write;
        match self {
            Value::Str(t) => Some(t.as_str()),
            Value::Int(i) => {
                buf.clear();
                let _ = write!(buf, "{i}");
                Some(buf.as_str())
            }
            Value::Float(x) => {
                buf.clear();
                let _ = write!(buf, "{x}");
                Some(buf.as_str())
            }
            Value::Bool(b) => Some(if *b { "true" } else { "false" }),
            Value::Null | Value::List(_) => None,
        }
    }

    /// The value as a number, if it is one or a string that parses as one (decimal, or hex
    /// with `0x` as Windows writes process ids and logon ids).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(x) => Some(*x),
            Value::Str(t) => {
                let s = t.as_str().trim();
                if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                    i64::from_str_radix(hex, 16).ok().map(|i| i as f64)
                } else {
                    s.parse::<f64>().ok()
                }
            }
            _ => None,
        }
    }

    /// Converts a `serde_json` value (objects are not scalars: callers flatten them first).
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::str(s.as_str()),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(_) => Value::str(v.to_string()),
        }
    }

    /// Converts back to JSON (for output and the raw event).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(x) => serde_json::Number::from_f64(*x)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(t) => serde_json::Value::String(t.as_str().to_string()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(t) => f.write_str(t.as_str()),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lowers_once() {
        let t = Text::new("C:\\Windows\\System32\\CMD.EXE");
        assert_eq!(t.lower(), "c:\\windows\\system32\\cmd.exe");
        let t = Text::new("already lower");
        assert_eq!(t.lower(), "already lower");
        assert!(t.lower.is_none());
        assert_eq!(Text::new("ÄRGER").lower(), "ärger");
    }

    #[test]
    fn numbers_have_string_forms() {
        let mut buf = String::new();
        assert_eq!(Value::Int(4688).scalar_str(&mut buf), Some("4688"));
        assert_eq!(Value::Bool(true).scalar_str(&mut buf), Some("true"));
        assert_eq!(Value::str("0x1f").as_f64(), Some(31.0));
        assert_eq!(Value::str("-2.5").as_f64(), Some(-2.5));
        assert_eq!(Value::Null.scalar_str(&mut buf), None);
    }
}
