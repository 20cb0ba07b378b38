//! Entities: the hosts, users, addresses, processes, files, hashes, domains and cloud
//! identities an event is about, under OCSF attribute names whatever the source called them.
//!
//! What this is for: intel matching, correlation, entity risk and the event lake need the same
//! entity from every source (`IpAddress` in a Windows logon, `id.orig_h` in Zeek, `src_ip` in
//! Suricata, `sourceIPAddress` in CloudTrail are all `src_endpoint.ip`). An [`Entities`] value
//! is a small view over one event: values are borrowed from the event, owned only when derived
//! (a process name cut from a path is still borrowed; a URL assembled from host and path is
//! owned). Extractors (per source, in `vigil-ingest`) fill it on demand, so decoding pays
//! nothing for it.
//!
//! What this is not for: native fields (Sigma rules address those), or reading OCSF files.
//! Names follow the OCSF schema (`../shared/data/ocsf-schema`; `vigil-ingest`'s tests check
//! every path against it).

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use crate::Value;

/// What an entity is, so that consumers pick fields by meaning rather than by name (intel
/// matches every [`EntityKind::Ip`] field against its IP table, risk scores every
/// [`EntityKind::User`] and [`EntityKind::Host`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    /// A machine by name (`device.hostname`, `src_endpoint.hostname`).
    Host,
    /// A user account: name, domain, id, ARN (`actor.user.*`, `user.*`).
    User,
    /// An e-mail address (`actor.user.email_addr`).
    Email,
    /// An IP address (`src_endpoint.ip`, `device.ip`, …).
    Ip,
    /// A transport port.
    Port,
    /// A process: name, path, command line, pid, id (`process.*`, `process.parent_process.*`).
    Process,
    /// A file by path or name (`file.path`).
    File,
    /// A file hash (`file.hashes`, `process.file.hashes`).
    Hash,
    /// A DNS name (`query.hostname`, `tls.sni`, `http_request.url.hostname`).
    Domain,
    /// A full URL (`http_request.url.url_string`).
    Url,
    /// An HTTP user agent.
    UserAgent,
    /// A cloud account, subscription or tenant (`cloud.account.uid`).
    CloudAccount,
    /// Where in a cloud it happened: provider, region.
    CloudLocation,
    /// A cloud or SaaS API call: operation and service (`api.operation`).
    Api,
    /// A TLS client or server fingerprint (JA3, JA3S).
    TlsFingerprint,
}

/// A hash algorithm with its OCSF `fingerprint.algorithm_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
    Imphash,
}

impl HashAlgorithm {
    /// Every algorithm, in OCSF id order.
    pub const ALL: [HashAlgorithm; 5] = [
        HashAlgorithm::Md5,
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha512,
        HashAlgorithm::Imphash,
    ];

    /// OCSF `fingerprint.algorithm_id`.
    pub fn ocsf_id(self) -> u8 {
        match self {
            HashAlgorithm::Md5 => 1,
            HashAlgorithm::Sha1 => 2,
            HashAlgorithm::Sha256 => 3,
            HashAlgorithm::Sha512 => 4,
            HashAlgorithm::Imphash => 18,
        }
    }

    /// OCSF's caption for it (`fingerprint.algorithm`).
    pub fn caption(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "MD5",
            HashAlgorithm::Sha1 => "SHA-1",
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sha512 => "SHA-512",
            HashAlgorithm::Imphash => "Imphash",
        }
    }

    /// The algorithm a log names (`SHA256`, `sha-256`, `IMPHASH`, Zeek's `md5`), if known.
    pub fn from_name(name: &str) -> Option<HashAlgorithm> {
        let mut buf = [0u8; 8];
        let mut n = 0;
        for b in name.bytes().filter(|b| *b != b'-' && *b != b'_') {
            if n == buf.len() {
                return None;
            }
            buf[n] = b.to_ascii_lowercase();
            n += 1;
        }
        match &buf[..n] {
            b"md5" => Some(HashAlgorithm::Md5),
            b"sha1" => Some(HashAlgorithm::Sha1),
            b"sha256" => Some(HashAlgorithm::Sha256),
            b"sha512" => Some(HashAlgorithm::Sha512),
            b"imphash" => Some(HashAlgorithm::Imphash),
            _ => None,
        }
    }
}

/// How an entity field's values are typed and normalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityType {
    /// Text as written (trimmed).
    Text,
    /// An IP address (`std::net::IpAddr`), IPv4-mapped IPv6 as IPv4.
    Ip,
    /// A port, 1–65535.
    Port,
    /// A process id (decimal, or `0x` hex as Windows writes them).
    Pid,
}

macro_rules! entity_fields {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, $kind:ident, $ty:ident; )*) => {
        /// An entity attribute, named by its OCSF path (`src_endpoint.ip`). Hashes carry their
        /// algorithm: OCSF stores them as `hashes: [{algorithm_id, value}]`, shown here as
        /// `file.hashes.sha256`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EntityField {
            $( $(#[$doc])* $variant, )*
            /// `file.hashes[]`: a hash of the file acted on (`file.hashes.sha256`).
            FileHash(HashAlgorithm),
            /// `process.file.hashes[]`: a hash of the process image (Sysmon 1 `Hashes`).
            ProcessFileHash(HashAlgorithm),
        }

        impl EntityField {
            /// Every field (hash fields once per algorithm).
            pub const ALL: &'static [EntityField] = &[
                $( EntityField::$variant, )*
                EntityField::FileHash(HashAlgorithm::Md5),
                EntityField::FileHash(HashAlgorithm::Sha1),
                EntityField::FileHash(HashAlgorithm::Sha256),
                EntityField::FileHash(HashAlgorithm::Sha512),
                EntityField::FileHash(HashAlgorithm::Imphash),
                EntityField::ProcessFileHash(HashAlgorithm::Md5),
                EntityField::ProcessFileHash(HashAlgorithm::Sha1),
                EntityField::ProcessFileHash(HashAlgorithm::Sha256),
                EntityField::ProcessFileHash(HashAlgorithm::Sha512),
                EntityField::ProcessFileHash(HashAlgorithm::Imphash),
            ];

            /// The dotted name: the OCSF attribute path, or for a hash the path of its
            /// `hashes` array with the algorithm (`process.file.hashes.md5`).
            pub fn as_str(self) -> &'static str {
                use HashAlgorithm as H;
                match self {
                    $( EntityField::$variant => $name, )*
                    EntityField::FileHash(H::Md5) => "file.hashes.md5",
                    EntityField::FileHash(H::Sha1) => "file.hashes.sha1",
                    EntityField::FileHash(H::Sha256) => "file.hashes.sha256",
                    EntityField::FileHash(H::Sha512) => "file.hashes.sha512",
                    EntityField::FileHash(H::Imphash) => "file.hashes.imphash",
                    EntityField::ProcessFileHash(H::Md5) => "process.file.hashes.md5",
                    EntityField::ProcessFileHash(H::Sha1) => "process.file.hashes.sha1",
                    EntityField::ProcessFileHash(H::Sha256) => "process.file.hashes.sha256",
                    EntityField::ProcessFileHash(H::Sha512) => "process.file.hashes.sha512",
                    EntityField::ProcessFileHash(H::Imphash) => "process.file.hashes.imphash",
                }
            }

            /// What the field names.
            pub fn kind(self) -> EntityKind {
                match self {
                    $( EntityField::$variant => EntityKind::$kind, )*
                    EntityField::FileHash(_) | EntityField::ProcessFileHash(_) => EntityKind::Hash,
                }
            }

            /// How its values are typed.
            pub fn value_type(self) -> EntityType {
                match self {
                    $( EntityField::$variant => EntityType::$ty, )*
                    EntityField::FileHash(_) | EntityField::ProcessFileHash(_) => EntityType::Text,
                }
            }
        }
    };
}

entity_fields! {
    /// The host that logged the event (Windows `Computer`, syslog HOSTNAME, auditd `node`).
    DeviceHostname => "device.hostname", Host, Text;
    /// An address of the host that logged the event.
    DeviceIp => "device.ip", Ip, Ip;
    /// The user who acted (Windows `Subject*`, Sysmon `User`, CloudTrail `userName`).
    ActorUserName => "actor.user.name", User, Text;
    /// The actor's domain (Windows `SubjectDomainName`, the `DOMAIN` of `DOMAIN\user`).
    ActorUserDomain => "actor.user.domain", User, Text;
    /// The actor's unique id (a SID, an ARN, an Okta/Entra/Auth0 id, a Linux uid).
    ActorUserUid => "actor.user.uid", User, Text;
    /// The actor's e-mail address, when the source logs one.
    ActorUserEmail => "actor.user.email_addr", Email, Text;
    /// The cloud account the actor belongs to (CloudTrail `userIdentity.accountId`).
    ActorUserAccountUid => "actor.user.account.uid", CloudAccount, Text;
    /// The user acted upon: a logon's target account, `sudo`'s target user.
    UserName => "user.name", User, Text;
    /// The target user's domain.
    UserDomain => "user.domain", User, Text;
    /// The target user's id (`TargetUserSid`).
    UserUid => "user.uid", User, Text;
    /// The initiating side's address.
    SrcIp => "src_endpoint.ip", Ip, Ip;
    /// The initiating side's port.
    SrcPort => "src_endpoint.port", Port, Port;
    /// The initiating side's host name (Windows `WorkstationName`, Zeek DHCP `host_name`).
    SrcHostname => "src_endpoint.hostname", Host, Text;
    /// The initiating side named by a DNS domain rather than an address (CloudTrail
    /// `sourceIPAddress` holding `ec2.amazonaws.com`).
    SrcDomain => "src_endpoint.domain", Domain, Text;
    /// The responding side's address.
    DstIp => "dst_endpoint.ip", Ip, Ip;
    /// The responding side's port.
    DstPort => "dst_endpoint.port", Port, Port;
    /// The responding side's host name (Sysmon `DestinationHostname`, Auth0 tenant host).
    DstHostname => "dst_endpoint.hostname", Host, Text;
    /// The process's file name (`powershell.exe`).
    ProcessName => "process.name", Process, Text;
    /// The process's image path.
    ProcessPath => "process.path", Process, Text;
    /// The process's command line.
    ProcessCmdLine => "process.cmd_line", Process, Text;
    /// The process id.
    ProcessPid => "process.pid", Process, Pid;
    /// A unique process id (Sysmon `ProcessGuid`).
    ProcessUid => "process.uid", Process, Text;
    /// The parent process's file name.
    ParentName => "process.parent_process.name", Process, Text;
    /// The parent process's image path.
    ParentPath => "process.parent_process.path", Process, Text;
    /// The parent process's command line.
    ParentCmdLine => "process.parent_process.cmd_line", Process, Text;
    /// The parent process id.
    ParentPid => "process.parent_process.pid", Process, Pid;
    /// A unique parent process id (Sysmon `ParentProcessGuid`).
    ParentUid => "process.parent_process.uid", Process, Text;
    /// The file acted on, full path.
    FilePath => "file.path", File, Text;
    /// The file acted on, its name.
    FileName => "file.name", File, Text;
    /// A DNS query's name.
    QueryHostname => "query.hostname", Domain, Text;
    /// The requested URL, whole (assembled from host and path where logs split them).
    UrlString => "http_request.url.url_string", Url, Text;
    /// The requested URL's host (HTTP `Host`).
    UrlHostname => "http_request.url.hostname", Domain, Text;
    /// The HTTP (or API client) user agent.
    UserAgent => "http_request.user_agent", UserAgent, Text;
    /// TLS server name indication.
    TlsSni => "tls.sni", Domain, Text;
    /// JA3 client fingerprint (MD5).
    TlsJa3 => "tls.ja3_hash.value", TlsFingerprint, Text;
    /// JA3S server fingerprint (MD5).
    TlsJa3s => "tls.ja3s_hash.value", TlsFingerprint, Text;
    /// The cloud account, subscription or tenant the event happened in.
    CloudAccountUid => "cloud.account.uid", CloudAccount, Text;
    /// The cloud region.
    CloudRegion => "cloud.region", CloudLocation, Text;
    /// The cloud provider (`AWS`, `Azure`).
    CloudProvider => "cloud.provider", CloudLocation, Text;
    /// The API operation (CloudTrail `eventName`, Azure `operationName`).
    ApiOperation => "api.operation", Api, Text;
    /// The API's service (CloudTrail `eventSource`).
    ApiServiceName => "api.service.name", Api, Text;
}

impl EntityField {
    /// The OCSF schema path of the value: [`EntityField::as_str`], except for hashes, whose
    /// value is `….hashes.value` (with [`EntityField::hash_algorithm`] as `algorithm_id`).
    pub fn ocsf_path(self) -> &'static str {
        match self {
            EntityField::FileHash(_) => "file.hashes.value",
            EntityField::ProcessFileHash(_) => "process.file.hashes.value",
            other => other.as_str(),
        }
    }

    /// The hash algorithm of a hash field.
    pub fn hash_algorithm(self) -> Option<HashAlgorithm> {
        match self {
            EntityField::FileHash(h) | EntityField::ProcessFileHash(h) => Some(h),
            _ => None,
        }
    }

    /// The field named `name` (as [`EntityField::as_str`] writes it).
    pub fn from_name(name: &str) -> Option<EntityField> {
        EntityField::ALL
            .iter()
            .copied()
            .find(|f| f.as_str() == name)
    }
}

impl fmt::Display for EntityField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entity value, typed by its field's [`EntityType`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntityValue<'a> {
    /// Text, borrowed from the event unless derived.
    Text(Cow<'a, str>),
    /// An IP address.
    Ip(IpAddr),
    /// A port or process id.
    Int(i64),
}

impl EntityValue<'_> {
    /// The text, for a text value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            EntityValue::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The address, for an IP value.
    pub fn as_ip(&self) -> Option<IpAddr> {
        match self {
            EntityValue::Ip(ip) => Some(*ip),
            _ => None,
        }
    }

    /// The number, for a port or pid.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            EntityValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// A copy that owns its text, to keep beyond the event.
    pub fn into_owned(self) -> EntityValue<'static> {
        match self {
            EntityValue::Text(s) => EntityValue::Text(Cow::Owned(s.into_owned())),
            EntityValue::Ip(ip) => EntityValue::Ip(ip),
            EntityValue::Int(i) => EntityValue::Int(i),
        }
    }

    /// The value as JSON (IPs as their canonical text).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            EntityValue::Text(s) => serde_json::Value::String(s.to_string()),
            EntityValue::Ip(ip) => serde_json::Value::String(ip.to_string()),
            EntityValue::Int(i) => serde_json::Value::from(*i),
        }
    }
}

impl fmt::Display for EntityValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntityValue::Text(s) => f.write_str(s),
            EntityValue::Ip(ip) => write!(f, "{ip}"),
            EntityValue::Int(i) => write!(f, "{i}"),
        }
    }
}

/// The entities of one event: at most one value per field, in the order extractors found
/// them. Adding normalises by the field's [`EntityType`] and refuses what is not a value
/// (empty, `-`, `(null)`, an address that does not parse), so consumers never see
/// placeholders.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entities<'a> {
    items: Vec<(EntityField, EntityValue<'a>)>,
}

/// Values most events have at most (a Sysmon process creation gives 17).
const TYPICAL_ENTITIES: usize = 20;

/// Placeholders logs write for "no value" (Windows `-`, auditd `(null)`, `?` for an unknown
/// auditd host).
fn is_placeholder(s: &str) -> bool {
    matches!(s, "" | "-" | "(null)" | "?")
}

impl<'a> Entities<'a> {
    /// No entities.
    pub fn new() -> Self {
        Entities::default()
    }

    /// Adds an event value to `field`, normalised by the field's type: text is borrowed
    /// (numbers formatted), IPs parsed, ports and pids read from numbers or numeric text.
    /// Lists and nulls are refused. Returns whether it was added (an existing value for the
    /// field is kept).
    pub fn add(&mut self, field: EntityField, value: &'a Value) -> bool {
        match value {
            Value::Str(t) => self.add_str(field, t.as_str()),
            Value::Int(i) => match field.value_type() {
                EntityType::Text => self.add_string(field, i.to_string()),
                EntityType::Ip => false,
                EntityType::Port | EntityType::Pid => self.add_int(field, *i),
            },
            Value::Float(_) | Value::Bool(_) | Value::Null | Value::List(_) => false,
        }
    }

    /// Adds text borrowed from the event (trimmed; parsed for IP, port and pid fields).
    pub fn add_str(&mut self, field: EntityField, value: &'a str) -> bool {
        let value = value.trim();
        if is_placeholder(value) || self.has(field) {
            return false;
        }
        let value = match field.value_type() {
            EntityType::Text => EntityValue::Text(Cow::Borrowed(value)),
            EntityType::Ip => match parse_ip(value) {
                Some(ip) => EntityValue::Ip(ip),
                None => return false,
            },
            EntityType::Port | EntityType::Pid => match parse_int(value) {
                Some(i) => return self.add_int(field, i),
                None => return false,
            },
        };
        self.push(field, value);
        true
    }

    /// Adds a derived value (built by the extractor, so owned).
    pub fn add_string(&mut self, field: EntityField, value: String) -> bool {
        match field.value_type() {
            EntityType::Text => {}
            EntityType::Ip => return parse_ip(&value).is_some_and(|ip| self.add_ip(field, ip)),
            EntityType::Port | EntityType::Pid => {
                return parse_int(&value).is_some_and(|i| self.add_int(field, i));
            }
        }
        let trimmed = value.trim();
        if is_placeholder(trimmed) || self.has(field) {
            return false;
        }
        let value = if trimmed.len() == value.len() {
            value
        } else {
            trimmed.to_string()
        };
        self.push(field, EntityValue::Text(Cow::Owned(value)));
        true
    }

    /// Adds a port or pid (ports outside 1–65535 and negative pids are refused; a text
    /// field gets the number's decimal form).
    pub fn add_int(&mut self, field: EntityField, value: i64) -> bool {
        let ok = match field.value_type() {
            EntityType::Port => (1..=65535).contains(&value),
            EntityType::Pid => value >= 0,
            EntityType::Text => return self.add_string(field, value.to_string()),
            EntityType::Ip => false,
        };
        if !ok || self.has(field) {
            return false;
        }
        self.push(field, EntityValue::Int(value));
        true
    }

    /// Adds an address already parsed (IPv4-mapped IPv6 becomes IPv4).
    pub fn add_ip(&mut self, field: EntityField, ip: IpAddr) -> bool {
        if field.value_type() != EntityType::Ip || self.has(field) {
            return false;
        }
        self.push(field, EntityValue::Ip(ip.to_canonical()));
        true
    }

    /// Appends a value; the first reserves room for [`TYPICAL_ENTITIES`] (growing 4, 8, 16, 32
    /// one push at a time cost a process creation's 17 values four allocations and three
    /// copies).
    fn push(&mut self, field: EntityField, value: EntityValue<'a>) {
        if self.items.capacity() == 0 {
            self.items.reserve_exact(TYPICAL_ENTITIES);
        }
        self.items.push((field, value));
    }

    /// True when `field` has a value.
    pub fn has(&self, field: EntityField) -> bool {
        self.items.iter().any(|(f, _)| *f == field)
    }

    /// The value of `field`.
    pub fn get(&self, field: EntityField) -> Option<&EntityValue<'a>> {
        self.items.iter().find(|(f, _)| *f == field).map(|(_, v)| v)
    }

    /// The value of `field` as text (for text fields).
    pub fn get_str(&self, field: EntityField) -> Option<&str> {
        self.get(field).and_then(EntityValue::as_str)
    }

    /// Every (field, value), in the order found.
    pub fn iter(&self) -> impl Iterator<Item = (EntityField, &EntityValue<'a>)> {
        self.items.iter().map(|(f, v)| (*f, v))
    }

    /// The (field, value) pairs of one kind (every IP, every user attribute, …).
    pub fn of_kind(
        &self,
        kind: EntityKind,
    ) -> impl Iterator<Item = (EntityField, &EntityValue<'a>)> {
        self.iter().filter(move |(f, _)| f.kind() == kind)
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// A copy that owns its values, to keep beyond the event.
    pub fn into_owned(self) -> Entities<'static> {
        Entities {
            items: self
                .items
                .into_iter()
                .map(|(f, v)| (f, v.into_owned()))
                .collect(),
        }
    }

    /// The entities as a nested OCSF JSON object: `{"src_endpoint": {"ip": "10.0.0.1"}}`,
    /// hashes as OCSF fingerprints, `{"file": {"hashes": [{"algorithm": "SHA-256",
    /// "algorithm_id": 3, "value": "…"}]}}`. An empty set gives `{}`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{Map, Value as J};
        let mut root = Map::new();
        for (field, value) in self.iter() {
            let mut segments = field.ocsf_path().split('.').peekable();
            let mut map = &mut root;
            while let Some(seg) = segments.next() {
                if let Some(alg) = field.hash_algorithm().filter(|_| seg == "hashes") {
                    let entry = map.entry(seg).or_insert_with(|| J::Array(Vec::new()));
                    if let J::Array(list) = entry {
                        let mut fp = Map::new();
                        fp.insert("algorithm".into(), J::from(alg.caption()));
                        fp.insert("algorithm_id".into(), J::from(alg.ocsf_id()));
                        fp.insert("value".into(), value.to_json());
                        list.push(J::Object(fp));
                    }
                    break;
                }
                if segments.peek().is_none() {
                    map.insert(seg.to_string(), value.to_json());
                    break;
                }
                let next = map.entry(seg).or_insert_with(|| J::Object(Map::new()));
                match next {
                    J::Object(m) => map = m,
                    // Paths never end where another continues (checked in tests).
                    _ => break,
                }
            }
        }
        J::Object(root)
    }
}

/// An IP address as logs write them: IPv4-mapped IPv6 (`::ffff:10.0.0.5`, Windows Kerberos
/// events) becomes IPv4; a zone (`fe80::1%12`) and brackets (`[::1]`) are dropped.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    let s = s.split_once('%').map_or(s, |(addr, _zone)| addr);
    s.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// A non-negative integer written in decimal, or in hex with `0x` as Windows writes pids.
fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => s.parse::<i64>().ok(),
    }
    .filter(|i| *i >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<&str> = EntityField::ALL.iter().map(|f| f.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
        for f in EntityField::ALL {
            assert_eq!(EntityField::from_name(f.as_str()), Some(*f));
        }
    }

    #[test]
    fn values_are_normalised_by_type() {
        let port = Value::str("0x1a4");
        let big_port = Value::Int(70000);
        let list = Value::List(vec![Value::str("1.2.3.4")]);
        let mut e = Entities::new();
        assert!(e.add_str(EntityField::SrcIp, " ::ffff:10.1.2.3 "));
        assert!(!e.add_str(EntityField::DstIp, "not-an-ip"));
        assert!(!e.add_str(EntityField::DstIp, "-"));
        assert!(e.add_str(EntityField::DstIp, "fe80::1%12"));
        assert!(e.add(EntityField::ProcessPid, &port));
        assert!(!e.add(EntityField::SrcPort, &big_port));
        assert!(!e.add(EntityField::DeviceIp, &list));
        assert!(!e.add_str(EntityField::ActorUserName, "  "));
        assert!(e.add_str(EntityField::ActorUserName, "IEUser"));
        assert!(
            !e.add_str(EntityField::ActorUserName, "other"),
            "first wins"
        );
        assert_eq!(
            e.get(EntityField::SrcIp),
            Some(&EntityValue::Ip("10.1.2.3".parse().unwrap()))
        );
        assert_eq!(e.get(EntityField::DstIp).unwrap().to_string(), "fe80::1");
        assert_eq!(e.get(EntityField::ProcessPid), Some(&EntityValue::Int(420)));
        assert_eq!(e.get_str(EntityField::ActorUserName), Some("IEUser"));
        assert_eq!(e.of_kind(EntityKind::Ip).count(), 2);
        assert!(e.add_string(EntityField::DstPort, "443".to_string()));
        assert_eq!(e.get(EntityField::DstPort), Some(&EntityValue::Int(443)));
    }

    #[test]
    fn json_is_nested_ocsf() {
        let mut e = Entities::new();
        e.add_str(EntityField::SrcIp, "10.0.0.1");
        e.add_int(EntityField::SrcPort, 51000);
        e.add_str(EntityField::ProcessName, "cmd.exe");
        e.add_str(EntityField::ParentPid, "12");
        e.add_str(EntityField::ProcessFileHash(HashAlgorithm::Sha256), "AB");
        e.add_str(EntityField::ProcessFileHash(HashAlgorithm::Md5), "CD");
        let j = e.to_json();
        assert_eq!(j["src_endpoint"]["ip"], "10.0.0.1");
        assert_eq!(j["src_endpoint"]["port"], 51000);
        assert_eq!(j["process"]["name"], "cmd.exe");
        assert_eq!(j["process"]["parent_process"]["pid"], 12);
        let hashes = j["process"]["file"]["hashes"].as_array().unwrap();
        assert_eq!(hashes.len(), 2);
        assert_eq!(hashes[0]["algorithm_id"], 3);
        assert_eq!(hashes[0]["algorithm"], "SHA-256");
        assert_eq!(hashes[0]["value"], "AB");
        assert_eq!(Entities::new().to_json(), serde_json::json!({}));
    }

    #[test]
    fn hash_algorithm_names() {
        assert_eq!(
            HashAlgorithm::from_name("SHA256"),
            Some(HashAlgorithm::Sha256)
        );
        assert_eq!(HashAlgorithm::from_name("sha-1"), Some(HashAlgorithm::Sha1));
        assert_eq!(
            HashAlgorithm::from_name("IMPHASH"),
            Some(HashAlgorithm::Imphash)
        );
        assert_eq!(HashAlgorithm::from_name("crc32"), None);
        assert_eq!(HashAlgorithm::from_name("averyveryverylongname"), None);
    }
}
