//! Bearer tokens: issued at random, shown once, stored only as a SHA-256 hash.
//!
//! A token reads `vgl_<id>_<secret>`: the id (12 hex digits) finds the stored record without
//! scanning, the secret is 256 bits from the operating system's RNG. Only the SHA-256 of the
//! whole string is kept; checking a presented token hashes it and compares the two digests in
//! constant time. A slow password hash (argon2) would add nothing here: it exists to make
//! guessing low-entropy passwords expensive, and a 256-bit secret cannot be guessed.
//!
//! Storage sits behind [`TokenStore`] so the state database can hold tokens later;
//! [`FileTokenStore`] keeps them in `<data>/tokens.json`.

mod file_store;

pub(crate) use file_store::create_private_dir;

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

pub use file_store::FileTokenStore;

use crate::audit::{AuditEntry, AuditLog};
use crate::{Error, Role};

/// Every token starts with this, so secret scanners and people can recognise one.
pub const TOKEN_PREFIX: &str = "vgl_";
/// Bytes of randomness in a token's secret part (256 bits).
const SECRET_BYTES: usize = 32;
/// Bytes of randomness in a token id (48 bits; collisions are checked on insert).
const ID_BYTES: usize = 6;
/// Longest label kept, in characters; longer labels are refused, not cut.
pub const MAX_LABEL_CHARS: usize = 200;

/// A stored token: everything but the secret, which exists only as `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public identifier, also embedded in the token string.
    pub id: String,
    /// What the token may do.
    pub role: Role,
    /// Free text saying who or what holds the token.
    pub label: String,
    /// When it was issued.
    pub created_at: Timestamp,
    /// After this instant the token is refused.
    pub expires_at: Option<Timestamp>,
    /// When it was revoked; a revoked token is refused forever.
    pub revoked_at: Option<Timestamp>,
    /// Lowercase hex SHA-256 of the full token string.
    pub hash: String,
}

impl TokenRecord {
    /// The public view of this record (no hash).
    pub fn info(&self) -> TokenInfo {
        TokenInfo {
            id: self.id.clone(),
            role: self.role,
            label: self.label.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked: self.revoked_at.is_some(),
            revoked_at: self.revoked_at,
        }
    }
}

/// What the API and CLI show about a token: never its secret nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    /// Public identifier (the part after `vgl_`).
    pub id: String,
    /// What the token may do.
    pub role: Role,
    /// Who or what holds it.
    pub label: String,
    /// When it was issued (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it stops working, if ever (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// Whether it was revoked.
    pub revoked: bool,
    /// When it was revoked (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

/// A freshly issued token: the plaintext exists only here and is shown exactly once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IssuedToken {
    /// The bearer token to hand to the client; it cannot be recovered later.
    pub token: String,
    /// The stored record's public view.
    pub info: TokenInfo,
}

/// Where token records live. Implementations must make each call atomic and visible to
/// other processes sharing the store (the CLI issues tokens while the server runs).
pub trait TokenStore: Send + Sync {
    /// The record with this id, if any.
    fn get(&self, id: &str) -> Result<Option<TokenRecord>, Error>;
    /// Every record, oldest first.
    fn list(&self) -> Result<Vec<TokenRecord>, Error>;
    /// Adds a record; fails if its id is already taken.
    fn insert(&self, record: TokenRecord) -> Result<(), Error>;
    /// Adds `record` only if the store was never bootstrapped and holds no token, then marks
    /// it bootstrapped for good. Returns whether the record was added.
    fn insert_bootstrap(&self, record: TokenRecord) -> Result<bool, Error>;
    /// Marks a token revoked at `at` (kept, so the audit trail can still name it). Returns the
    /// updated record; revoking twice keeps the first time.
    fn revoke(&self, id: &str, at: Timestamp) -> Result<TokenRecord, Error>;
}

/// Who a valid token belongs to; handlers read it from the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Identity {
    /// The token's id.
    pub token_id: String,
    /// Its role.
    pub role: Role,
    /// Its label.
    pub label: String,
    /// When it expires, if ever.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
}

/// Why a presented token was refused. Every variant is a 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Not a Vigil token, unknown id or wrong secret (not told apart, on purpose).
    Invalid,
    /// The token was revoked.
    Revoked,
    /// The token's expiry has passed.
    Expired,
}

impl Rejection {
    /// A short message for the client.
    pub fn message(self) -> &'static str {
        match self {
            Rejection::Missing => "missing bearer token (Authorization: Bearer <token>)",
            Rejection::Invalid => "invalid token",
            Rejection::Revoked => "token revoked",
            Rejection::Expired => "token expired",
        }
    }
}

/// Issues, checks, lists and revokes tokens over a [`TokenStore`]; the API and the CLI both
/// go through it, so the rules live in one place.
#[derive(Clone)]
pub struct Tokens {
    store: Arc<dyn TokenStore>,
}

impl Tokens {
    /// Tokens kept in `store`.
    pub fn new(store: Arc<dyn TokenStore>) -> Self {
        Tokens { store }
    }

    /// Tokens kept in `<data_dir>/tokens.json` (the directory is created, mode 0700).
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        Ok(Tokens::new(Arc::new(FileTokenStore::open(data_dir)?)))
    }

    /// Issues a new token. `label` must be at most [`MAX_LABEL_CHARS`] characters without
    /// control characters; `expires_at`, when given, must be in the future.
    pub fn issue(
        &self,
        role: Role,
        label: &str,
        expires_at: Option<Timestamp>,
    ) -> Result<IssuedToken, Error> {
        let (token, record) = new_record(role, label, expires_at)?;
        self.store.insert(record.clone())?;
        Ok(IssuedToken {
            token,
            info: record.info(),
        })
    }

    /// Issues the first admin token if this store never had one issued this way and holds no
    /// token at all; afterwards always `None`.
    pub fn bootstrap_admin(&self) -> Result<Option<IssuedToken>, Error> {
        let (token, record) = new_record(Role::Admin, "bootstrap admin", None)?;
        if self.store.insert_bootstrap(record.clone())? {
            Ok(Some(IssuedToken {
                token,
                info: record.info(),
            }))
        } else {
            Ok(None)
        }
    }

    /// Checks a presented token: known id, matching hash (constant-time), not revoked, not
    /// expired at `now`.
    pub fn authenticate(&self, presented: &str, now: Timestamp) -> Result<Identity, AuthError> {
        let id = parse_id(presented).ok_or(AuthError::Rejected(Rejection::Invalid))?;
        let record = self
            .store
            .get(id)
            .map_err(AuthError::Store)?
            .ok_or(AuthError::Rejected(Rejection::Invalid))?;
        let presented_hash = Sha256::digest(presented.as_bytes());
        let stored_hash = decode_hex32(&record.hash);
        let matches = match stored_hash {
            Some(stored) => bool::from(presented_hash.as_slice().ct_eq(&stored)),
            None => false,
        };
        if !matches {
            return Err(AuthError::Rejected(Rejection::Invalid));
        }
        if record.revoked_at.is_some() {
            return Err(AuthError::Rejected(Rejection::Revoked));
        }
        if record.expires_at.is_some_and(|e| e <= now) {
            return Err(AuthError::Rejected(Rejection::Expired));
        }
        Ok(Identity {
            token_id: record.id,
            role: record.role,
            label: record.label,
            expires_at: record.expires_at,
        })
    }

    /// Every token's public view, oldest first.
    pub fn list(&self) -> Result<Vec<TokenInfo>, Error> {
        Ok(self.store.list()?.iter().map(TokenRecord::info).collect())
    }

    /// Revokes the token with this id; fails with [`Error::TokenNotFound`] if there is none.
    pub fn revoke(&self, id: &str) -> Result<TokenInfo, Error> {
        Ok(self.store.revoke(id, Timestamp::now())?.info())
    }
}

/// Checking a token failed: either it was refused (401) or the store could not be read (500).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token was refused.
    #[error("{}", .0.message())]
    Rejected(Rejection),
    /// The token store failed.
    #[error(transparent)]
    Store(Error),
}

/// Issues a token in `data_dir` and records it in the audit log (actor: the CLI). Returns the
/// token, whose plaintext must be printed now: it is never stored.
pub fn create_token(
    data_dir: &Path,
    role: Role,
    label: &str,
    expires_at: Option<Timestamp>,
) -> Result<IssuedToken, Error> {
    let issued = Tokens::open(data_dir)?.issue(role, label, expires_at)?;
    AuditLog::open(data_dir)?.append(AuditEntry::cli(
        "token create",
        format!(
            "created token id={} role={} label={:?}",
            issued.info.id, issued.info.role, issued.info.label
        ),
    ))?;
    Ok(issued)
}

/// On the first start of a data directory with no tokens, issues a one-time admin token and
/// audits it; on every later call returns `None`.
pub fn ensure_bootstrap_admin(data_dir: &Path) -> Result<Option<IssuedToken>, Error> {
    let issued = Tokens::open(data_dir)?.bootstrap_admin()?;
    if let Some(t) = &issued {
        AuditLog::open(data_dir)?.append(AuditEntry::cli(
            "bootstrap admin",
            format!("created bootstrap admin token id={}", t.info.id),
        ))?;
    }
    Ok(issued)
}

/// Every token in `data_dir`, oldest first, without secrets.
pub fn list_tokens(data_dir: &Path) -> Result<Vec<TokenInfo>, Error> {
    Tokens::open(data_dir)?.list()
}

/// Revokes a token in `data_dir` and records it in the audit log (actor: the CLI).
pub fn revoke_token(data_dir: &Path, id: &str) -> Result<TokenInfo, Error> {
    let info = Tokens::open(data_dir)?.revoke(id)?;
    AuditLog::open(data_dir)?.append(AuditEntry::cli(
        "token revoke",
        format!("revoked token id={}", info.id),
    ))?;
    Ok(info)
}

/// Makes a token string and its record (not yet stored).
fn new_record(
    role: Role,
    label: &str,
    expires_at: Option<Timestamp>,
) -> Result<(String, TokenRecord), Error> {
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(Error::InvalidToken(format!(
            "label longer than {MAX_LABEL_CHARS} characters"
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(Error::InvalidToken(
            "label contains control characters".into(),
        ));
    }
    let now = Timestamp::now();
    if let Some(e) = expires_at
        && e <= now
    {
        return Err(Error::InvalidToken(format!(
            "expiry {e} is not in the future"
        )));
    }
    let id = hex(&random_bytes::<ID_BYTES>()?);
    let secret = URL_SAFE_NO_PAD.encode(random_bytes::<SECRET_BYTES>()?);
    let token = format!("{TOKEN_PREFIX}{id}_{secret}");
    let record = TokenRecord {
        hash: hex(&Sha256::digest(token.as_bytes())),
        id,
        role,
        label: label.to_string(),
        created_at: now,
        expires_at,
        revoked_at: None,
    };
    Ok((token, record))
}

/// Fresh bytes from the operating system's RNG.
fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| {
        Error::InvalidToken(format!("the operating system's random source failed: {e}"))
    })?;
    Ok(buf)
}

/// The id inside `vgl_<id>_<secret>`, if the string has that shape.
fn parse_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == ID_BYTES * 2 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (id_ok && !secret.is_empty()).then_some(id)
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A 64-digit hex string as 32 bytes, or `None` if it is not one.
fn decode_hex32(s: &str) -> Option<[u8; 32]> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> (tempfile::TempDir, Tokens) {
        let dir = tempfile::tempdir().unwrap();
        let t = Tokens::open(dir.path()).unwrap();
        (dir, t)
    }

    #[test]
    fn issued_token_authenticates_with_its_role() {
        let (_d, t) = tokens();
        let issued = t.issue(Role::Analyst, "alice", None).unwrap();
        assert!(issued.token.starts_with(TOKEN_PREFIX));
        // 4 prefix + 12 id + 1 separator + 43 base64url chars for 32 bytes.
        assert_eq!(issued.token.len(), 4 + 12 + 1 + 43);
        let who = t.authenticate(&issued.token, Timestamp::now()).unwrap();
        assert_eq!(who.role, Role::Analyst);
        assert_eq!(who.token_id, issued.info.id);
    }

    #[test]
    fn wrong_secret_unknown_id_and_garbage_are_invalid() {
        let (_d, t) = tokens();
        let issued = t.issue(Role::Viewer, "v", None).unwrap();
        let mut wrong = issued.token.clone();
        let last = wrong.pop().unwrap();
        wrong.push(if last == 'A' { 'B' } else { 'A' });
        for bad in [
            wrong.as_str(),
            "vgl_000000000000_abc",
            "garbage",
            "",
            "vgl_",
            "vgl_zz_zz",
        ] {
            assert!(
                matches!(
                    t.authenticate(bad, Timestamp::now()),
                    Err(AuthError::Rejected(Rejection::Invalid))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn revoked_and_expired_are_refused() {
        let (_d, t) = tokens();
        let issued = t
            .issue(
                Role::Admin,
                "short-lived",
                Some(Timestamp::now() + jiff::SignedDuration::from_secs(3600)),
            )
            .unwrap();
        let later = Timestamp::now() + jiff::SignedDuration::from_secs(7200);
        assert!(matches!(
            t.authenticate(&issued.token, later),
            Err(AuthError::Rejected(Rejection::Expired))
        ));
        t.revoke(&issued.info.id).unwrap();
        assert!(matches!(
            t.authenticate(&issued.token, Timestamp::now()),
            Err(AuthError::Rejected(Rejection::Revoked))
        ));
        assert!(matches!(t.revoke("nope"), Err(Error::TokenNotFound(_))));
    }

    #[test]
    fn bad_labels_and_past_expiry_are_refused() {
        let (_d, t) = tokens();
        assert!(t.issue(Role::Viewer, "a\nb", None).is_err());
        assert!(t.issue(Role::Viewer, &"x".repeat(201), None).is_err());
        let past = Timestamp::now() - jiff::SignedDuration::from_secs(1);
        assert!(t.issue(Role::Viewer, "old", Some(past)).is_err());
    }

    #[test]
    fn hex_round_trips() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(decode_hex32(&hex(&bytes)), Some(bytes));
        assert_eq!(decode_hex32("zz"), None);
    }
}
