//! What one journal record holds: a unit of ingest (an HTTP body, a batch of syslog messages,
//! a batch of lines from a watched file) with who sent it, as received.
//!
//! The journal keeps the bytes as they arrived (a gzip body stays compressed) and detection
//! decodes them again when it reads the record. Keeping the raw input rather than decoded
//! events means a replay after a crash, a rule reload or a decoder fix sees exactly what was
//! acknowledged, and the record's offset plus the record's index inside the unit name every
//! event stably — which is what makes alert ids replay-proof.
//!
//! Layout: `VGU1`, a little-endian `u32` header length, the header as JSON, then the body.

use std::net::SocketAddr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use vigil_ingest::Format;

const MAGIC: &[u8; 4] = b"VGU1";

/// Who sent a unit and how to read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitHeader {
    /// The source tag events are counted under (`http:<tag>`, `syslog-udp`, a file source's name).
    pub source: String,
    /// The format to decode as; `None` sniffs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// When the server received the unit (events without a time of their own get this).
    pub received: Timestamp,
    /// The sending peer, for network sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<SocketAddr>,
    /// The file the lines came from, for watched files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The `Idempotency-Key` the unit was sent with, and its receipt: what lets a restart
    /// remember the key when the server stopped after the unit was durable and before the
    /// receipt was recorded (see `crate::idempotency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<KeyStamp>,
}

/// An ingest request's idempotency key, stamped on the unit it appended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStamp {
    /// The id of the token that sent it (keys are scoped to their token).
    pub token: String,
    pub key: String,
    /// The receipt the request answered, but for its `offset` (the unit's own).
    pub receipt: serde_json::Value,
}

impl UnitHeader {
    /// The format to force, if the header names one this build knows.
    pub fn forced_format(&self) -> Result<Option<Format>, UnitError> {
        self.format
            .as_deref()
            .map(|name| {
                name.parse::<Format>()
                    .map_err(|_| UnitError::UnknownFormat(name.to_string()))
            })
            .transpose()
    }
}

/// A journal record that is not a unit this version can read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnitError {
    #[error("record does not start with the unit marker VGU1")]
    BadMagic,
    #[error("record is truncated: header claims {claimed} bytes, {available} present")]
    Truncated { claimed: usize, available: usize },
    #[error("unit header is not valid: {0}")]
    BadHeader(String),
    #[error("unit names an unknown format `{0}`")]
    UnknownFormat(String),
}

/// Serialises a unit into one journal payload.
pub fn encode(header: &UnitHeader, body: &[u8]) -> Vec<u8> {
    let head = serde_json::to_vec(header).expect("a unit header always serialises");
    let mut out = Vec::with_capacity(8 + head.len() + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(head.len() as u32).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(body);
    out
}

/// Splits a journal payload back into its header and body.
pub fn decode(payload: &[u8]) -> Result<(UnitHeader, &[u8]), UnitError> {
    let rest = payload.strip_prefix(MAGIC).ok_or(UnitError::BadMagic)?;
    let (len, rest) = rest.split_first_chunk::<4>().ok_or(UnitError::Truncated {
        claimed: 4,
        available: rest.len(),
    })?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return Err(UnitError::Truncated {
            claimed: len,
            available: rest.len(),
        });
    }
    let (head, body) = rest.split_at(len);
    let header = serde_json::from_slice(head).map_err(|e| UnitError::BadHeader(e.to_string()))?;
    Ok((header, body))
}

/// The stream name events of the unit at journal `offset` carry: stable across replays, and
/// it says where the event came from (`http:edr@1234`).
pub fn stream_name(header: &UnitHeader, offset: u64) -> String {
    format!("{}@{offset}", header.source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> UnitHeader {
        UnitHeader {
            source: "http:edr".into(),
            format: Some("zeek-json".into()),
            received: "2026-12-02T01:00:00Z".parse().unwrap(),
            peer: Some("127.0.0.1:5000".parse().unwrap()),
            path: None,
            idempotency: None,
        }
    }

    #[test]
    fn round_trips() {
        let bytes = encode(&header(), b"{\"a\":1}\n");
        let (h, body) = decode(&bytes).unwrap();
        assert_eq!(h, header());
        assert_eq!(body, b"{\"a\":1}\n");
        assert_eq!(h.forced_format().unwrap(), Some(Format::ZeekJson));
        // Without a key the header is what earlier versions wrote; with one it round-trips.
        assert!(!String::from_utf8_lossy(&bytes).contains("idempotency"));
        let mut keyed = header();
        keyed.idempotency = Some(KeyStamp {
            token: "tok-1".into(),
            key: "retry-7".into(),
            receipt: serde_json::json!({"events": 1, "errors": []}),
        });
        let bytes = encode(&keyed, b"x");
        assert_eq!(decode(&bytes).unwrap().0, keyed);
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        assert_eq!(decode(b"nope"), Err(UnitError::BadMagic));
        assert!(matches!(
            decode(b"VGU1\xff\xff\x00\x00{}"),
            Err(UnitError::Truncated { .. })
        ));
        assert!(matches!(
            decode(b"VGU1\x02\x00\x00\x00{x"),
            Err(UnitError::BadHeader(_))
        ));
        let mut h = header();
        h.format = Some("nonsense".into());
        assert_eq!(
            h.forced_format(),
            Err(UnitError::UnknownFormat("nonsense".into()))
        );
    }
}
