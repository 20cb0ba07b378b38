//! Deterministic identities: which event a hit is, which alert it starts, what dedup groups on.
//!
//! A replay after a crash feeds the same events again. Because the hit key depends only on the
//! rule and the event's identity (never on a clock or a counter), the store recognises a replayed
//! hit and leaves counts alone, and an alert created by a replayed event gets the same id.

use std::fmt::Write;

use sha2::{Digest, Sha256};

use super::model::{AlertEntities, EventRef, Evidence};

/// Bytes of SHA-256 kept: 128 bits make an accidental collision negligible (birthday bound
/// 2^64 hits) and keep the dedup ledger small.
pub(crate) const KEY_BYTES: usize = 16;

/// The identity of one rule hit on one event.
pub(crate) type HitKey = [u8; KEY_BYTES];

/// Which entity an alert is grouped on for dedup/aggregation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyEntity {
    Host,
    User,
    SrcIp,
    DstIp,
}

impl KeyEntity {
    fn prefix(self) -> &'static str {
        match self {
            KeyEntity::Host => "host",
            KeyEntity::User => "user",
            KeyEntity::SrcIp => "src_ip",
            KeyEntity::DstIp => "dst_ip",
        }
    }
}

/// The hit key of rule `rule_id` firing on `event`: SHA-256 over length-prefixed fields (rule id,
/// source, record id, offset, event time in nanoseconds), truncated to 128 bits.
///
/// When the event has neither a record id nor an offset, its evidence is hashed too, so that two
/// different events of one source at the same instant stay apart as far as the rule can tell.
pub(crate) fn hit_key(rule_id: &str, event: &EventRef, evidence: &[Evidence]) -> HitKey {
    let mut h = Sha256::new();
    h.update(b"vigil-alert-hit-v1\0");
    field(&mut h, rule_id.as_bytes());
    field(&mut h, event.source.as_bytes());
    opt(&mut h, event.record_id.map(u64::to_le_bytes).as_ref());
    opt(&mut h, event.offset.map(u64::to_le_bytes).as_ref());
    // Microseconds: the precision the store keeps, so a hit rebuilt from a stored EventRef
    // has the same key as the original.
    opt(
        &mut h,
        event
            .time
            .map(|t| t.as_microsecond().to_le_bytes())
            .as_ref(),
    );
    if event.record_id.is_none() && event.offset.is_none() {
        for e in evidence {
            field(&mut h, e.search.as_bytes());
            field(&mut h, e.field.as_deref().unwrap_or("").as_bytes());
            field(&mut h, e.value.as_bytes());
        }
    }
    let digest = h.finalize();
    let mut key = [0u8; KEY_BYTES];
    key.copy_from_slice(&digest[..KEY_BYTES]);
    key
}

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn opt<const N: usize>(h: &mut Sha256, v: Option<&[u8; N]>) {
    match v {
        None => h.update([0u8]),
        Some(b) => {
            h.update([1u8]);
            h.update(b);
        }
    }
}

/// The id of the alert a hit would create: the hit key in lowercase hex (32 characters).
pub(crate) fn alert_id_from_key(key: &HitKey) -> String {
    let mut s = String::with_capacity(KEY_BYTES * 2);
    for b in key {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The id of the alert that rule `rule_id` firing on `event` creates when it starts a new alert.
///
/// Public so that callers (tests, the crash test, an API) can find the alert of a known event.
pub fn alert_id(rule_id: &str, event: &EventRef, evidence: &[Evidence]) -> String {
    alert_id_from_key(&hit_key(rule_id, event, evidence))
}

/// Whether `s` has the shape of an alert id (32 lowercase hex digits).
pub(crate) fn is_alert_id(s: &str) -> bool {
    s.len() == KEY_BYTES * 2 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The dedup group of an alert: the first entity of `order` that the alert names, as
/// `kind:value` (host and user lowercased: Windows compares them case-insensitively), or `-`.
pub(crate) fn group_key(entities: &AlertEntities, order: &[KeyEntity]) -> String {
    for &kind in order {
        let value = match kind {
            KeyEntity::Host => entities.host.as_deref().map(str::to_lowercase),
            KeyEntity::User => entities.user.as_deref().map(str::to_lowercase),
            KeyEntity::SrcIp => entities.src_ip.map(|ip| ip.to_string()),
            KeyEntity::DstIp => entities.dst_ip.map(|ip| ip.to_string()),
        };
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            return format!("{}:{v}", kind.prefix());
        }
    }
    "-".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(record: Option<u64>) -> EventRef {
        EventRef {
            source: "a.evtx".into(),
            record_id: record,
            offset: None,
            time: Some("2024-01-01T00:00:00Z".parse().unwrap()),
        }
    }

    #[test]
    fn keys_depend_on_rule_and_event_only() {
        let a = hit_key("r1", &event(Some(7)), &[]);
        assert_eq!(a, hit_key("r1", &event(Some(7)), &[]));
        assert_ne!(a, hit_key("r2", &event(Some(7)), &[]));
        assert_ne!(a, hit_key("r1", &event(Some(8)), &[]));
        assert_ne!(a, hit_key("r1", &event(None), &[]));
        let id = alert_id("r1", &event(Some(7)), &[]);
        assert!(is_alert_id(&id), "{id}");
    }

    #[test]
    fn group_key_takes_the_first_named_entity() {
        let order = [KeyEntity::Host, KeyEntity::User, KeyEntity::SrcIp];
        let mut e = AlertEntities {
            user: Some("Alice".into()),
            src_ip: Some("10.0.0.1".parse().unwrap()),
            ..AlertEntities::default()
        };
        assert_eq!(group_key(&e, &order), "user:alice");
        e.host = Some("WS01".into());
        assert_eq!(group_key(&e, &order), "host:ws01");
        assert_eq!(group_key(&AlertEntities::default(), &order), "-");
    }
}
