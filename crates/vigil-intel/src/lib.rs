//! Threat intelligence: indicators of compromise, their import from feeds, and matching them
//! against the entities of events.
//!
//! What this is for: turning STIX 2.1 bundles, MISP events, abuse.ch CSV exports and plain
//! lists into one [`IntelSet`] of [`Indicator`]s (one per kind and normalised value, with
//! every feed that names it as a [`Source`]), accounting for everything an import read in an
//! [`ImportReport`]; then compiling the set into an immutable [`Matcher`] that checks an
//! event's OCSF [`vigil_core::Entities`] (IPs against addresses and CIDR blocks, names
//! against domains and their subdomains, URLs, e-mail addresses, hashes, JA3, user agents,
//! file names) and says which field matched which indicator.
//!
//! Fetching feeds is here too, when called ([`fetch`]: http/https with verified TLS;
//! [`taxii`]; MISP feeds), but not scheduling it. What it is not for: storing indicators or
//! sightings, or raising alerts: callers wire the matcher into detection.
//!
//! ```no_run
//! use vigil_intel::{IntelSet, Matcher};
//! # fn main() -> Result<(), vigil_intel::IntelError> {
//! let mut set = IntelSet::new();
//! let report = set.import_path("feeds/".as_ref())?;
//! for (file, r) in report.rejections() {
//!     eprintln!("{}: {}: {}", file.display(), r.location, r.reason);
//! }
//! let matcher = Matcher::build(&set, jiff::Timestamp::now());
//! let mut matches = Vec::new();
//! # let event = vigil_core::Event::new(vigil_core::SourceRef::default());
//! matcher.match_entities(&vigil_ingest::entities(&event), &mut matches);
//! # Ok(()) }
//! ```

mod error;
pub mod export;
pub mod fetch;
mod import;
mod indicator;
pub mod lifecycle;
mod matcher;
mod normalise;
mod set;
pub mod taxii;

pub use error::IntelError;
pub use fetch::{ClientOptions, FeedClient, FetchError, Fetched};
pub use import::misp_feed::{MispFeedCursor, MispFeedReport};
pub use import::{CsvKind, CsvMapping, CsvPreset, FeedFormat, ImportOptions};
pub use indicator::{Indicator, IndicatorKind, KillChainPhase, NewIndicator, Scope, Source, Tlp};
pub use lifecycle::{
    AllowEntry, Allowlist, DecayModel, LifecycleView, Sighting, SightingPlace, Sightings,
};
pub use matcher::{BuildStats, IntelMatch, LeftOut, MatchHow, Matcher};
pub use normalise::ValueError;
pub use set::{Added, FileReport, ImportReport, IntelSet, Location, Rejection};
pub use taxii::{PullReport, PullRequest, TaxiiCursor};
