//! The asset inventory: what the organisation owns, how much each thing matters, and what
//! depends on what — so an alert on a host can be weighed by that host's criticality, and a
//! compromised asset's blast radius can be listed.
//!
//! Imported from CSV (a header row naming the columns) or JSON (an array of objects, or
//! `{"assets": [...]}`). Every problem names the file, the line or entry, and the reason; an
//! import with errors changes nothing (an inventory half-loaded would weigh alerts wrongly).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One asset. `id` is the hostname unless the file gives an id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    pub id: String,
    pub hostname: Option<String>,
    #[serde(default)]
    pub ips: Vec<IpAddr>,
    pub owner: Option<String>,
    pub business_unit: Option<String>,
    /// 1 (lab machine) to 5 (crown jewel).
    pub criticality: u8,
    /// Free tags; `crown-jewel`, `internet-facing`, `domain-controller` have meaning to scoring
    /// and grouping.
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// Ids of the assets this one depends on (a web server depends on its database).
    #[serde(default)]
    pub depends_on: Vec<String>,
}

impl Asset {
    /// Whether the asset carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.contains(tag)
    }
}

/// One reason an import was refused, with where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{place}: {reason}")]
pub struct AssetError {
    pub file: String,
    /// `line N` for CSV, `entry N` for JSON, `-` for the file as a whole.
    pub place: String,
    pub reason: String,
}

/// The assets, indexed by id, hostname and IP.
#[derive(Clone, Debug, Default)]
pub struct AssetInventory {
    assets: BTreeMap<String, Asset>,
    /// Lowercased hostname (and its first label) → id.
    by_host: BTreeMap<String, String>,
    by_ip: BTreeMap<IpAddr, String>,
}

/// The columns a CSV inventory may have; `hostname` or `id` is required.
const COLUMNS: [&str; 8] = [
    "id",
    "hostname",
    "ips",
    "owner",
    "business_unit",
    "criticality",
    "tags",
    "depends_on",
];

/// What a compromised asset puts at risk.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BlastRadius {
    /// Assets that depend on it, directly or through others (their service is at risk).
    pub dependents: Vec<String>,
    /// Assets it depends on, directly or through others (an attacker holding it can reach them).
    pub dependencies: Vec<String>,
}

impl AssetInventory {
    /// Reads an inventory file: JSON when it starts with `[` or `{`, CSV otherwise.
    pub fn import_path(path: &Path) -> Result<AssetInventory, Vec<AssetError>> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![AssetError {
                file: file.clone(),
                place: "-".into(),
                reason: e.to_string(),
            }]
        })?;
        AssetInventory::import_str(&text, &file)
    }

    /// Parses inventory text (`name` names it in errors).
    pub fn import_str(text: &str, name: &str) -> Result<AssetInventory, Vec<AssetError>> {
        let trimmed = text.trim_start_matches('\u{feff}').trim_start();
        // Rows that parsed are checked too, so one pass reports every problem.
        let (assets, errors) = if trimmed.starts_with('[') || trimmed.starts_with('{') {
            parse_json(trimmed, name)?
        } else {
            parse_csv(trimmed, name)?
        };
        AssetInventory::from_assets(assets, name, errors)
    }

    /// Builds the inventory, checking ids are unique, criticality is 1–5 and every dependency
    /// names a known asset. `assets` pairs each asset with where it was read (for errors).
    fn from_assets(
        assets: Vec<(String, Asset)>,
        name: &str,
        mut errors: Vec<AssetError>,
    ) -> Result<AssetInventory, Vec<AssetError>> {
        let err = |place: &str, reason: String| AssetError {
            file: name.to_string(),
            place: place.to_string(),
            reason,
        };
        let mut inventory = AssetInventory::default();
        let mut places = BTreeMap::new();
        for (place, asset) in assets {
            if !(1..=5).contains(&asset.criticality) {
                errors.push(err(
                    &place,
                    format!(
                        "criticality {} is out of range (1 to 5) for asset `{}`",
                        asset.criticality, asset.id
                    ),
                ));
                continue;
            }
            if let Some(first) = places.get(&asset.id) {
                errors.push(err(
                    &place,
                    format!("asset `{}` is defined twice (first at {first})", asset.id),
                ));
                continue;
            }
            places.insert(asset.id.clone(), place);
            inventory.assets.insert(asset.id.clone(), asset);
        }
        for asset in inventory.assets.values() {
            for dep in &asset.depends_on {
                if !inventory.assets.contains_key(dep) {
                    errors.push(err(
                        &places[&asset.id],
                        format!("asset `{}` depends on unknown asset `{dep}`", asset.id),
                    ));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        inventory.index();
        Ok(inventory)
    }

    fn index(&mut self) {
        for asset in self.assets.values() {
            if let Some(h) = &asset.hostname {
                let h = h.to_ascii_lowercase();
                if let Some((short, _)) = h.split_once('.') {
                    self.by_host
                        .entry(short.to_string())
                        .or_insert_with(|| asset.id.clone());
                }
                self.by_host.insert(h, asset.id.clone());
            }
            for ip in &asset.ips {
                self.by_ip.insert(*ip, asset.id.clone());
            }
        }
    }

    /// Number of assets.
    pub fn len(&self) -> usize {
        self.assets.len()
    }

    /// True when there are no assets.
    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
    }

    /// Every asset, by id.
    pub fn assets(&self) -> impl Iterator<Item = &Asset> {
        self.assets.values()
    }

    /// The asset with this id.
    pub fn get(&self, id: &str) -> Option<&Asset> {
        self.assets.get(id)
    }

    /// The asset a host name refers to: full name or first label, any case
    /// (`WKS-07.corp.example`, `wks-07`).
    pub fn by_hostname(&self, host: &str) -> Option<&Asset> {
        let h = host.to_ascii_lowercase();
        let id = self.by_host.get(&h).or_else(|| {
            h.split_once('.')
                .and_then(|(short, _)| self.by_host.get(short))
        })?;
        self.assets.get(id)
    }

    /// The asset that has this address.
    pub fn by_ip(&self, ip: IpAddr) -> Option<&Asset> {
        self.by_ip.get(&ip).and_then(|id| self.assets.get(id))
    }

    /// What compromising `id` puts at risk; `None` for an unknown id.
    pub fn blast_radius(&self, id: &str) -> Option<BlastRadius> {
        self.assets.get(id)?;
        let mut dependents_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for a in self.assets.values() {
            for d in &a.depends_on {
                dependents_of.entry(d).or_default().push(&a.id);
            }
        }
        let dependents = reach(id, |n| dependents_of.get(n).cloned().unwrap_or_default());
        let dependencies = reach(id, |n| {
            self.assets
                .get(n)
                .map(|a| a.depends_on.iter().map(String::as_str).collect())
                .unwrap_or_default()
        });
        Some(BlastRadius {
            dependents,
            dependencies,
        })
    }
}

/// Every node reachable from `start` along `next` (cycles allowed), `start` excluded, sorted.
fn reach<'a>(start: &'a str, next: impl Fn(&'a str) -> Vec<&'a str>) -> Vec<String> {
    let mut seen: BTreeSet<&str> = BTreeSet::from([start]);
    let mut queue = VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        for m in next(n) {
            if seen.insert(m) {
                queue.push_back(m);
            }
        }
    }
    seen.remove(start);
    seen.into_iter().map(str::to_string).collect()
}

/// Splits a list cell: `;`, `,` or `|` separated, blanks dropped.
fn list(cell: &str) -> Vec<String> {
    cell.split([';', ',', '|'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Rows read and row errors; `Err` when the file as a whole is unusable.
type Parsed = Result<(Vec<(String, Asset)>, Vec<AssetError>), Vec<AssetError>>;

fn parse_csv(text: &str, name: &str) -> Parsed {
    let err = |place: String, reason: String| AssetError {
        file: name.to_string(),
        place,
        reason,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.to_ascii_lowercase()).collect(),
        Err(e) => return Err(vec![err("line 1".into(), e.to_string())]),
    };
    let unknown: Vec<&String> = headers
        .iter()
        .filter(|h| !COLUMNS.contains(&h.as_str()))
        .collect();
    let mut errors = Vec::new();
    if !unknown.is_empty() {
        errors.push(err(
            "line 1".into(),
            format!(
                "unknown column(s) {unknown:?}; the columns are {}",
                COLUMNS.join(", ")
            ),
        ));
    }
    if !headers.iter().any(|h| h == "hostname" || h == "id") {
        errors.push(err(
            "line 1".into(),
            "a `hostname` or `id` column is required".into(),
        ));
    }
    if !headers.iter().any(|h| h == "criticality") {
        errors.push(err(
            "line 1".into(),
            "a `criticality` column is required".into(),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let col = |name: &str| headers.iter().position(|h| h == name);
    let mut assets = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(err(format!("line {line}"), e.to_string()));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let place = format!("line {line}");
        let cell = |name: &str| {
            col(name)
                .and_then(|i| record.get(i))
                .filter(|s| !s.is_empty())
        };
        let hostname = cell("hostname").map(str::to_string);
        let Some(id) = cell("id").map(str::to_string).or_else(|| hostname.clone()) else {
            errors.push(err(
                place,
                "the row has neither an id nor a hostname".into(),
            ));
            continue;
        };
        let criticality = match cell("criticality").map(str::parse::<u8>) {
            Some(Ok(c)) => c,
            Some(Err(_)) => {
                errors.push(err(
                    place,
                    format!(
                        "criticality `{}` is not a number from 1 to 5",
                        cell("criticality").unwrap_or_default()
                    ),
                ));
                continue;
            }
            None => {
                errors.push(err(place, format!("asset `{id}` has no criticality")));
                continue;
            }
        };
        let mut ips = Vec::new();
        let mut bad_ip = false;
        for ip in cell("ips").map(list).unwrap_or_default() {
            match ip.parse::<IpAddr>() {
                Ok(ip) => ips.push(ip),
                Err(_) => {
                    errors.push(err(place.clone(), format!("`{ip}` is not an IP address")));
                    bad_ip = true;
                }
            }
        }
        if bad_ip {
            continue;
        }
        assets.push((
            place,
            Asset {
                id,
                hostname,
                ips,
                owner: cell("owner").map(str::to_string),
                business_unit: cell("business_unit").map(str::to_string),
                criticality,
                tags: cell("tags")
                    .map(list)
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
                depends_on: cell("depends_on").map(list).unwrap_or_default(),
            },
        ));
    }
    Ok((assets, errors))
}

/// The JSON form of an asset: `id` defaults to the hostname.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonAsset {
    id: Option<String>,
    hostname: Option<String>,
    #[serde(default)]
    ips: Vec<IpAddr>,
    owner: Option<String>,
    business_unit: Option<String>,
    criticality: u8,
    #[serde(default)]
    tags: BTreeSet<String>,
    #[serde(default)]
    depends_on: Vec<String>,
}

fn parse_json(text: &str, name: &str) -> Parsed {
    let err = |place: String, reason: String| AssetError {
        file: name.to_string(),
        place,
        reason,
    };
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| vec![err(format!("line {}", e.line()), format!("not JSON: {e}"))])?;
    let entries = match value {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(mut o) => match o.remove("assets") {
            Some(serde_json::Value::Array(a)) => a,
            _ => {
                return Err(vec![err(
                    "-".into(),
                    "expected an array of assets or {\"assets\": [...]}".into(),
                )]);
            }
        },
        _ => {
            return Err(vec![err(
                "-".into(),
                "expected an array of assets or {\"assets\": [...]}".into(),
            )]);
        }
    };
    let mut errors = Vec::new();
    let mut assets = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let place = format!("entry {}", i + 1);
        match serde_json::from_value::<JsonAsset>(entry) {
            Ok(a) => {
                let Some(id) = a.id.or_else(|| a.hostname.clone()) else {
                    errors.push(err(
                        place,
                        "the entry has neither an id nor a hostname".into(),
                    ));
                    continue;
                };
                assets.push((
                    place,
                    Asset {
                        id,
                        hostname: a.hostname,
                        ips: a.ips,
                        owner: a.owner,
                        business_unit: a.business_unit,
                        criticality: a.criticality,
                        tags: a.tags,
                        depends_on: a.depends_on,
                    },
                ));
            }
            Err(e) => errors.push(err(place, e.to_string())),
        }
    }
    Ok((assets, errors))
}
