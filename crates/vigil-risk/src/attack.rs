//! The MITRE ATT&CK Enterprise catalogue, rule coverage over it, and ATT&CK Navigator layers.
//!
//! What this is for: loading the technique/tactic catalogue from MITRE's STIX bundle
//! ([`AttackCatalog::load`], gzip or plain JSON), resolving Sigma rule tags (`attack.t1059.001`,
//! `attack.execution`, `attack.g0016`, `attack.s0002`) against it ([`AttackCatalog::resolve`]),
//! reporting which techniques a rule set covers ([`coverage`]) and writing that as a Navigator
//! layer ([`navigator_layer`]). What it is not for: groups, software, mitigations and their
//! relationships (the bundle Vigil ships holds techniques and tactics only), or choosing which
//! rules are enabled (callers pass the rules they run).
//!
//! Coverage rules, stated once: a rule tagged with a sub-technique (`T1059.001`) covers that
//! sub-technique only; a rule tagged with a technique (`T1059`) covers the technique only. A
//! technique none of whose rules name it but some of whose sub-techniques are covered is
//! reported as covered *through sub-techniques* ([`TechniqueCoverage::subtechnique_rules`]),
//! separately from direct coverage, because "we detect PowerShell" is not "we detect every
//! interpreter". Tags naming techniques that are not in the catalogue, or revoked/deprecated
//! there, are reported with the rules that carry them ([`Coverage::unknown_tags`]), never
//! dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Why a catalogue could not be loaded at all. Problems with single objects are
/// [`CatalogRejection`]s instead.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// The file could not be read or decompressed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The content is not JSON (serde_json names the line and column).
    #[error("{}: not JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// JSON, but not a catalogue: no bundle `objects`, no matrix, no tactic.
    #[error("{}: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
}

/// An object of the bundle that was read but not taken into the catalogue, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CatalogRejection {
    /// The STIX id, or `#N` (position in `objects`) when it has none.
    pub object: String,
    pub reason: String,
}

/// An ATT&CK tactic (`TA0002` / `execution` / "Execution").
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttackTactic {
    /// `TA0002`.
    pub id: String,
    /// `execution`: what kill-chain phases and Sigma tags name.
    pub shortname: String,
    pub name: String,
    /// Column in the Enterprise matrix, 0 = reconnaissance.
    pub order: usize,
}

/// An active technique or sub-technique.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Technique {
    /// `T1059` or `T1059.001`.
    pub id: String,
    pub name: String,
    /// For a sub-technique, its technique's id (`T1059`).
    pub parent: Option<String>,
    /// Tactic shortnames, in matrix order.
    pub tactics: Vec<String>,
    /// `Windows`, `Linux`, …
    pub platforms: Vec<String>,
    /// The STIX `attack-pattern--…` id.
    pub stix_id: String,
}

impl Technique {
    /// True for a sub-technique (`T1059.001`).
    pub fn is_subtechnique(&self) -> bool {
        self.parent.is_some()
    }
}

/// A technique id the catalogue knows but no longer uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RetiredTechnique {
    pub id: String,
    pub name: String,
    /// `revoked` (replaced by another technique) or `deprecated` (withdrawn).
    pub why: &'static str,
}

/// What loading counted besides the active techniques.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CatalogStats {
    /// `attack-pattern` objects read.
    pub attack_patterns: usize,
    /// Of those, revoked ones (left out; their ids resolve as retired).
    pub revoked: usize,
    /// Of those, deprecated ones (left out likewise).
    pub deprecated: usize,
    /// Objects of other types (matrix included), by type.
    pub other_objects: BTreeMap<String, usize>,
}

/// The Enterprise ATT&CK catalogue: tactics in matrix order, active techniques and
/// sub-techniques sorted by id, and the ids of retired ones.
#[derive(Clone, Debug, Default)]
pub struct AttackCatalog {
    tactics: Vec<AttackTactic>,
    techniques: Vec<Technique>,
    by_id: HashMap<String, usize>,
    retired: HashMap<String, RetiredTechnique>,
    stats: CatalogStats,
    rejected: Vec<CatalogRejection>,
    version: Option<String>,
}

/// The fields of a STIX object this module reads; everything else is ignored.
#[derive(Deserialize)]
struct RawObject {
    #[serde(rename = "type")]
    ty: String,
    id: Option<String>,
    name: Option<String>,
    #[serde(default)]
    external_references: Vec<RawReference>,
    #[serde(default)]
    kill_chain_phases: Vec<RawPhase>,
    #[serde(default)]
    x_mitre_platforms: Vec<String>,
    x_mitre_shortname: Option<String>,
    #[serde(default)]
    revoked: bool,
    #[serde(default)]
    x_mitre_deprecated: bool,
    #[serde(default)]
    x_mitre_is_subtechnique: bool,
    #[serde(default)]
    tactic_refs: Vec<String>,
}

#[derive(Deserialize)]
struct RawReference {
    source_name: String,
    external_id: Option<String>,
}

#[derive(Deserialize)]
struct RawPhase {
    kill_chain_name: String,
    phase_name: String,
}

impl RawObject {
    fn attack_id(&self) -> Option<&str> {
        self.external_references
            .iter()
            .find(|r| r.source_name == "mitre-attack")
            .and_then(|r| r.external_id.as_deref())
    }
}

impl AttackCatalog {
    /// Loads a STIX bundle of ATT&CK objects from `path`: gzip when the file starts with the
    /// gzip magic, plain JSON otherwise.
    pub fn load(path: &Path) -> Result<AttackCatalog, AttackError> {
        let io = |source| AttackError::Io {
            path: path.to_path_buf(),
            source,
        };
        let raw = std::fs::read(path).map_err(io)?;
        let text = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .map_err(io)?;
            out
        } else {
            raw
        };
        Self::from_json(path, &text)
    }

    /// Loads a bundle already in memory; `path` names it in errors.
    pub fn from_json(path: &Path, bytes: &[u8]) -> Result<AttackCatalog, AttackError> {
        let format = |reason: String| AttackError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let doc: Value = serde_json::from_slice(bytes).map_err(|source| AttackError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let objects = match doc.get("objects") {
            Some(Value::Array(a)) => a,
            Some(_) => return Err(format("`objects` is not an array".into())),
            None => return Err(format("not a STIX bundle: no `objects`".into())),
        };
        let mut cat = AttackCatalog::default();
        let mut tactic_objects: HashMap<String, AttackTactic> = HashMap::new();
        let mut matrix_refs: Option<Vec<String>> = None;
        let mut patterns = Vec::new();
        for (i, v) in objects.iter().enumerate() {
            let place = || {
                v.get("id")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("#{i}"), str::to_string)
            };
            let obj = match RawObject::deserialize(v) {
                Ok(o) => o,
                Err(e) => {
                    cat.reject(place(), format!("not a STIX object this reads: {e}"));
                    continue;
                }
            };
            match obj.ty.as_str() {
                "attack-pattern" => {
                    cat.stats.attack_patterns += 1;
                    patterns.push((place(), obj));
                }
                "x-mitre-tactic" => {
                    *cat.stats.other_objects.entry(obj.ty.clone()).or_default() += 1;
                    if obj.revoked || obj.x_mitre_deprecated {
                        continue;
                    }
                    let (Some(id), Some(short), Some(name), Some(stix)) = (
                        obj.attack_id(),
                        obj.x_mitre_shortname.as_deref(),
                        obj.name.as_deref(),
                        obj.id.as_deref(),
                    ) else {
                        cat.reject(
                            place(),
                            "tactic without an ATT&CK id, x_mitre_shortname, name or id",
                        );
                        continue;
                    };
                    tactic_objects.insert(
                        stix.to_string(),
                        AttackTactic {
                            id: id.to_string(),
                            shortname: short.to_string(),
                            name: name.to_string(),
                            order: 0,
                        },
                    );
                }
                "x-mitre-matrix" => {
                    *cat.stats.other_objects.entry(obj.ty.clone()).or_default() += 1;
                    if matrix_refs.is_some() {
                        cat.reject(place(), "a second matrix: the first one's order is kept");
                    } else {
                        matrix_refs = Some(obj.tactic_refs);
                    }
                }
                other => {
                    *cat.stats
                        .other_objects
                        .entry(other.to_string())
                        .or_default() += 1
                }
            }
        }
        let refs = matrix_refs.ok_or_else(|| {
            format("no x-mitre-matrix object: the tactics' matrix order is unknown".into())
        })?;
        for r in refs {
            match tactic_objects.remove(&r) {
                Some(mut t) => {
                    t.order = cat.tactics.len();
                    cat.tactics.push(t);
                }
                None => cat.reject(r, "the matrix names a tactic the bundle does not hold"),
            }
        }
        let mut orphans: Vec<_> = tactic_objects.into_iter().collect();
        orphans.sort_by(|a, b| a.0.cmp(&b.0));
        for (stix, t) in orphans {
            cat.reject(stix, format!("tactic {} is not in the matrix", t.id));
        }
        if cat.tactics.is_empty() {
            return Err(format("the matrix names no tactic of the bundle".into()));
        }
        for (place, obj) in patterns {
            cat.add_pattern(place, obj);
        }
        cat.techniques.sort_by(|a, b| a.id.cmp(&b.id));
        cat.by_id = cat
            .techniques
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.clone(), i))
            .collect();
        // A sub-technique whose parent is missing still loads, but is named.
        let missing: Vec<(String, String)> = cat
            .techniques
            .iter()
            .filter_map(|t| {
                let p = t.parent.as_ref()?;
                (!cat.by_id.contains_key(p)).then(|| (t.stix_id.clone(), p.clone()))
            })
            .collect();
        for (stix, p) in missing {
            cat.reject(
                stix,
                format!("parent technique {p} is not active in the bundle"),
            );
        }
        Ok(cat)
    }

    fn reject(&mut self, object: String, reason: impl Into<String>) {
        self.rejected.push(CatalogRejection {
            object,
            reason: reason.into(),
        });
    }

    fn add_pattern(&mut self, place: String, obj: RawObject) {
        let Some(id) = obj.attack_id().map(str::to_ascii_uppercase) else {
            self.reject(place, "attack-pattern without a mitre-attack external_id");
            return;
        };
        let Some(parsed) = TechniqueId::parse(&id) else {
            self.reject(
                place,
                format!("external_id `{id}` is not T#### or T####.###"),
            );
            return;
        };
        let name = obj.name.clone().unwrap_or_default();
        if obj.revoked || obj.x_mitre_deprecated {
            let why = if obj.revoked {
                self.stats.revoked += 1;
                "revoked"
            } else {
                self.stats.deprecated += 1;
                "deprecated"
            };
            self.retired
                .insert(id.clone(), RetiredTechnique { id, name, why });
            return;
        }
        if parsed.sub.is_some() != obj.x_mitre_is_subtechnique {
            self.reject(
                place.clone(),
                format!("{id}: x_mitre_is_subtechnique disagrees with the id; the id is taken"),
            );
        }
        if self.techniques.iter().any(|t| t.id == id) {
            self.reject(place, format!("{id} appears twice; the first is kept"));
            return;
        }
        let mut tactics: Vec<&AttackTactic> = Vec::new();
        for p in &obj.kill_chain_phases {
            if p.kill_chain_name != "mitre-attack" {
                continue;
            }
            match self.tactics.iter().find(|t| t.shortname == p.phase_name) {
                Some(t) if !tactics.contains(&t) => tactics.push(t),
                Some(_) => {}
                None => {
                    let reason = format!("{id}: phase `{}` is not a tactic", p.phase_name);
                    self.rejected.push(CatalogRejection {
                        object: place.clone(),
                        reason,
                    });
                }
            }
        }
        tactics.sort_by_key(|t| t.order);
        let tactics = tactics.iter().map(|t| t.shortname.clone()).collect();
        self.techniques.push(Technique {
            parent: parsed.sub.map(|_| format!("T{:04}", parsed.number)),
            id,
            name,
            tactics,
            platforms: obj.x_mitre_platforms,
            stix_id: obj.id.unwrap_or(place),
        });
    }

    /// Tactics in matrix (kill-chain) order.
    pub fn tactics(&self) -> &[AttackTactic] {
        &self.tactics
    }

    /// Active techniques and sub-techniques, sorted by id.
    pub fn techniques(&self) -> &[Technique] {
        &self.techniques
    }

    /// The active technique `id` (`T1059.001`, any case).
    pub fn technique(&self, id: &str) -> Option<&Technique> {
        self.by_id
            .get(&id.to_ascii_uppercase())
            .map(|&i| &self.techniques[i])
    }

    /// The tactic of shortname (`execution`), name (`Execution`) or id (`TA0002`), any case;
    /// `_` reads as `-` (older Sigma tags write `command_and_control`).
    pub fn tactic(&self, key: &str) -> Option<&AttackTactic> {
        let k = key.trim().to_ascii_lowercase().replace('_', "-");
        self.tactics.iter().find(|t| {
            t.shortname == k
                || t.id.eq_ignore_ascii_case(&k)
                || t.name.to_ascii_lowercase().replace(' ', "-") == k
        })
    }

    /// The sub-techniques of technique `id`.
    pub fn subtechniques<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Technique> {
        self.techniques.iter().filter(move |t| {
            t.parent
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(id))
        })
    }

    /// A revoked or deprecated technique id.
    pub fn retired(&self, id: &str) -> Option<&RetiredTechnique> {
        self.retired.get(&id.to_ascii_uppercase())
    }

    /// What loading counted.
    pub fn stats(&self) -> &CatalogStats {
        &self.stats
    }

    /// Objects not taken in, each with why.
    pub fn rejected(&self) -> &[CatalogRejection] {
        &self.rejected
    }

    /// The ATT&CK release this catalogue is (`18`), when the caller knows it: the STIX objects
    /// carry only the spec version, so it goes into Navigator layers only when set.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Sets [`AttackCatalog::version`].
    pub fn set_version(&mut self, version: impl Into<String>) {
        self.version = Some(version.into());
    }

    /// What a rule tag names. `None` for tags outside the `attack.` namespace (`cve.…`,
    /// `detection.…`).
    pub fn resolve(&self, tag: &str) -> Option<TagRef<'_>> {
        let t = tag.trim();
        let rest = t.get(..7).filter(|p| p.eq_ignore_ascii_case("attack."))?;
        let rest = &t[rest.len()..];
        if let Some(id) = TechniqueId::parse(rest) {
            let id = id.to_string();
            return Some(match (self.technique(&id), self.retired(&id)) {
                (Some(tech), _) => TagRef::Technique(tech),
                (None, Some(r)) => TagRef::Unknown {
                    reason: format!("technique {id} ({}) is {} in the catalogue", r.name, r.why),
                },
                (None, None) => TagRef::Unknown {
                    reason: format!("technique {id} is not in the catalogue"),
                },
            });
        }
        let upper = rest.to_ascii_uppercase();
        let numbered = |p: char| {
            upper.len() == 5
                && upper.starts_with(p)
                && upper[1..].bytes().all(|b| b.is_ascii_digit())
        };
        if numbered('G') {
            return Some(TagRef::Group(upper));
        }
        if numbered('S') {
            return Some(TagRef::Software(upper));
        }
        Some(match self.tactic(rest) {
            Some(t) => TagRef::Tactic(t),
            None => TagRef::Unknown {
                reason: format!("`{rest}` is neither a technique id nor a tactic of the catalogue"),
            },
        })
    }
}

/// What an `attack.` tag names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagRef<'a> {
    Technique(&'a Technique),
    Tactic(&'a AttackTactic),
    /// A threat group (`attack.g0016`); the catalogue holds no groups, so it is not checked.
    Group(String),
    /// A software entry (`attack.s0002`); not checked, likewise.
    Software(String),
    /// A technique not (or no longer) in the catalogue, or a name that is no tactic.
    Unknown {
        reason: String,
    },
}

/// A parsed `T####[.###]`.
struct TechniqueId {
    number: u16,
    sub: Option<u16>,
}

impl TechniqueId {
    fn parse(s: &str) -> Option<TechniqueId> {
        let s = s.strip_prefix(['T', 't'])?;
        let (num, sub) = match s.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (s, None),
        };
        let digits = |d: &str, n: usize| d.len() == n && d.bytes().all(|b| b.is_ascii_digit());
        if !digits(num, 4) || sub.is_some_and(|s| !digits(s, 3)) {
            return None;
        }
        Some(TechniqueId {
            number: num.parse().ok()?,
            sub: sub.map(|s| s.parse()).transpose().ok()?,
        })
    }
}

impl std::fmt::Display for TechniqueId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.sub {
            Some(s) => write!(f, "T{:04}.{s:03}", self.number),
            None => write!(f, "T{:04}", self.number),
        }
    }
}

/// One rule as coverage sees it: its id, title, level and tags.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleTags {
    pub id: String,
    pub title: String,
    pub level: Option<String>,
    pub tags: Vec<String>,
}

/// A rule named in a coverage report.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RuleRef {
    pub id: String,
    pub title: String,
    pub level: Option<String>,
}

/// Coverage of one technique or sub-technique.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TechniqueCoverage {
    pub id: String,
    pub name: String,
    pub tactics: Vec<String>,
    /// Rules tagged with this id, by rule id.
    pub rules: Vec<RuleRef>,
    /// For a technique: rules tagged with one of its sub-techniques (each rule once), the
    /// coverage it has only through them. Empty for sub-techniques.
    pub subtechnique_rules: Vec<RuleRef>,
}

/// Coverage of one tactic's techniques.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TacticCoverage {
    pub id: String,
    pub shortname: String,
    pub name: String,
    /// Techniques (not sub-techniques) under the tactic.
    pub techniques_total: usize,
    /// Of those, covered directly or through a sub-technique.
    pub techniques_covered: usize,
    /// Sub-techniques under the tactic.
    pub subtechniques_total: usize,
    /// Of those, covered.
    pub subtechniques_covered: usize,
    /// Rules tagged with the tactic itself (`attack.execution`).
    pub tactic_tagged_rules: usize,
}

/// A tag that names nothing in the catalogue, with why and which rules carry it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnknownTag {
    pub reason: String,
    pub rules: Vec<String>,
}

/// What a rule set covers of the catalogue (see the module docs for the rules).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// The catalogue's ATT&CK release, when known (for the layer's `versions.attack`).
    pub attack_version: Option<String>,
    /// Rules read.
    pub rules: usize,
    /// Of those, rules with at least one tag naming a catalogue technique.
    pub rules_with_techniques: usize,
    /// Every technique and sub-technique with any coverage (direct or through
    /// sub-techniques), by id.
    pub techniques: BTreeMap<String, TechniqueCoverage>,
    /// Per tactic, in matrix order.
    pub tactics: Vec<TacticCoverage>,
    /// Active techniques and sub-techniques with no coverage at all, sorted.
    pub uncovered: Vec<String>,
    /// Tags in the `attack.` namespace that name nothing known, by lowercased tag.
    pub unknown_tags: BTreeMap<String, UnknownTag>,
    /// Group and software tags (`G0016`, `S0002`) with the rules carrying them.
    pub groups: BTreeMap<String, Vec<String>>,
    pub software: BTreeMap<String, Vec<String>>,
}

impl Coverage {
    /// The coverage of technique `id`, if it has any.
    pub fn technique(&self, id: &str) -> Option<&TechniqueCoverage> {
        self.techniques.get(&id.to_ascii_uppercase())
    }

    /// The coverage of the tactic of shortname `name`.
    pub fn tactic(&self, name: &str) -> Option<&TacticCoverage> {
        self.tactics.iter().find(|t| t.shortname == name)
    }
}

/// Which techniques the `rules` cover (see the module docs for what counts).
pub fn coverage(catalog: &AttackCatalog, rules: impl Iterator<Item = RuleTags>) -> Coverage {
    let mut direct: BTreeMap<&str, BTreeSet<RuleRef>> = BTreeMap::new();
    let mut tactic_rules: HashMap<&str, BTreeSet<String>> = HashMap::new();
    let mut unknown: BTreeMap<String, UnknownTag> = BTreeMap::new();
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut software: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let (mut n, mut with_techniques) = (0, 0);
    for rule in rules {
        n += 1;
        let rref = RuleRef {
            id: rule.id.clone(),
            title: rule.title.clone(),
            level: rule.level.clone(),
        };
        let mut any = false;
        for tag in &rule.tags {
            match catalog.resolve(tag) {
                None => {}
                Some(TagRef::Technique(t)) => {
                    any = true;
                    direct.entry(&t.id).or_default().insert(rref.clone());
                }
                Some(TagRef::Tactic(t)) => {
                    tactic_rules
                        .entry(&t.shortname)
                        .or_default()
                        .insert(rule.id.clone());
                }
                Some(TagRef::Group(g)) => {
                    groups.entry(g).or_default().insert(rule.id.clone());
                }
                Some(TagRef::Software(s)) => {
                    software.entry(s).or_default().insert(rule.id.clone());
                }
                Some(TagRef::Unknown { reason }) => {
                    let u = unknown
                        .entry(tag.trim().to_ascii_lowercase())
                        .or_insert_with(|| UnknownTag {
                            reason,
                            rules: Vec::new(),
                        });
                    if !u.rules.contains(&rule.id) {
                        u.rules.push(rule.id.clone());
                    }
                }
            }
        }
        with_techniques += usize::from(any);
    }
    let mut through_subs: BTreeMap<&str, BTreeSet<RuleRef>> = BTreeMap::new();
    for (id, rules) in &direct {
        if let Some(parent) = catalog.technique(id).and_then(|t| t.parent.as_deref()) {
            through_subs
                .entry(parent)
                .or_default()
                .extend(rules.iter().cloned());
        }
    }
    let mut techniques = BTreeMap::new();
    let mut uncovered = Vec::new();
    for t in catalog.techniques() {
        let rules: Vec<RuleRef> = direct
            .remove(t.id.as_str())
            .unwrap_or_default()
            .into_iter()
            .collect();
        let subs: Vec<RuleRef> = through_subs
            .remove(t.id.as_str())
            .unwrap_or_default()
            .into_iter()
            .collect();
        if rules.is_empty() && subs.is_empty() {
            uncovered.push(t.id.clone());
            continue;
        }
        techniques.insert(
            t.id.clone(),
            TechniqueCoverage {
                id: t.id.clone(),
                name: t.name.clone(),
                tactics: t.tactics.clone(),
                rules,
                subtechnique_rules: subs,
            },
        );
    }
    let tactics = catalog
        .tactics()
        .iter()
        .map(|tac| {
            let mut c = TacticCoverage {
                id: tac.id.clone(),
                shortname: tac.shortname.clone(),
                name: tac.name.clone(),
                techniques_total: 0,
                techniques_covered: 0,
                subtechniques_total: 0,
                subtechniques_covered: 0,
                tactic_tagged_rules: tactic_rules
                    .get(tac.shortname.as_str())
                    .map_or(0, |r| r.len()),
            };
            for t in catalog
                .techniques()
                .iter()
                .filter(|t| t.tactics.contains(&tac.shortname))
            {
                let covered = techniques.contains_key(&t.id);
                if t.is_subtechnique() {
                    c.subtechniques_total += 1;
                    c.subtechniques_covered += usize::from(covered);
                } else {
                    c.techniques_total += 1;
                    c.techniques_covered += usize::from(covered);
                }
            }
            c
        })
        .collect();
    let flatten = |m: BTreeMap<String, BTreeSet<String>>| {
        m.into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect()
    };
    Coverage {
        attack_version: catalog.version().map(str::to_string),
        rules: n,
        rules_with_techniques: with_techniques,
        techniques,
        tactics,
        uncovered,
        unknown_tags: unknown,
        groups: flatten(groups),
        software: flatten(software),
    }
}

/// The Navigator release the layers are written for (the 4.5 layer format needs ≥ 4.9.0).
pub const NAVIGATOR_VERSION: &str = "5.2.0";
/// The layer file format version written.
pub const LAYER_FORMAT_VERSION: &str = "4.5";
/// How many rules a technique's metadata lists by name (the comment gives the full count).
const RULES_LISTED: usize = 25;
/// The colour of techniques covered only through their sub-techniques (no score).
const THROUGH_SUBS_COLOR: &str = "#bdd7e7";

/// An ATT&CK Navigator layer (format 4.5) of `coverage`: each covered technique scored with
/// the number of rules tagged with it, its rules listed in metadata; techniques covered only
/// through sub-techniques unscored, in their own colour, with `showSubtechniques`. The
/// gradient runs from 0 to the highest score.
pub fn navigator_layer(coverage: &Coverage, name: &str) -> Value {
    let mut techniques = Vec::new();
    let mut max = 1;
    for t in coverage.techniques.values() {
        let mut entry = serde_json::Map::new();
        entry.insert("techniqueID".into(), json!(t.id));
        let mut metadata: Vec<Value> = t
            .rules
            .iter()
            .take(RULES_LISTED)
            .map(|r| json!({"name": "rule", "value": format!("{} ({})", r.title, r.id)}))
            .collect();
        if t.rules.len() > RULES_LISTED {
            metadata.push(
                json!({"name": "more rules", "value": (t.rules.len() - RULES_LISTED).to_string()}),
            );
        }
        if t.rules.is_empty() {
            entry.insert("color".into(), json!(THROUGH_SUBS_COLOR));
            entry.insert(
                "comment".into(),
                json!(format!(
                    "{}: no rule names it; {} rule(s) cover its sub-techniques",
                    t.name,
                    t.subtechnique_rules.len()
                )),
            );
            entry.insert("showSubtechniques".into(), json!(true));
        } else {
            max = max.max(t.rules.len());
            entry.insert("score".into(), json!(t.rules.len()));
            let mut comment = format!("{}: {} rule(s)", t.name, t.rules.len());
            if !t.subtechnique_rules.is_empty() {
                comment.push_str(&format!(
                    "; {} more cover its sub-techniques",
                    t.subtechnique_rules.len()
                ));
                entry.insert("showSubtechniques".into(), json!(true));
            }
            entry.insert("comment".into(), json!(comment));
        }
        entry.insert("metadata".into(), Value::Array(metadata));
        techniques.push(Value::Object(entry));
    }
    let mut versions = json!({"navigator": NAVIGATOR_VERSION, "layer": LAYER_FORMAT_VERSION});
    if let Some(v) = &coverage.attack_version {
        versions["attack"] = json!(v);
    }
    let unknown: usize = coverage.unknown_tags.len();
    json!({
        "name": name,
        "versions": versions,
        "domain": "enterprise-attack",
        "description": format!(
            "Detection coverage: {} rules, {} with ATT&CK technique tags; score = rules tagged with the technique",
            coverage.rules, coverage.rules_with_techniques
        ),
        "sorting": 3,
        "layout": {"layout": "side", "showID": true, "showName": true, "showAggregateScores": false, "expandedSubtechniques": "annotated"},
        "hideDisabled": false,
        "techniques": techniques,
        "gradient": {"colors": ["#ffe766", "#8ec843"], "minValue": 0, "maxValue": max},
        "legendItems": [
            {"label": "covered by rules (score = number of rules)", "color": "#8ec843"},
            {"label": "covered only through sub-techniques", "color": THROUGH_SUBS_COLOR},
        ],
        "metadata": [
            {"name": "rules", "value": coverage.rules.to_string()},
            {"name": "techniques covered", "value": coverage.techniques.len().to_string()},
            {"name": "techniques uncovered", "value": coverage.uncovered.len().to_string()},
            {"name": "unknown attack tags", "value": unknown.to_string()},
        ],
        "selectSubtechniquesWithParent": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn technique_ids_parse_and_print_canonically() {
        assert_eq!(
            TechniqueId::parse("t1059.001").unwrap().to_string(),
            "T1059.001"
        );
        assert_eq!(TechniqueId::parse("T0001").unwrap().to_string(), "T0001");
        for bad in ["T105", "T1059.1", "T1059.0001", "1059", "Tabcd", "T1059."] {
            assert!(TechniqueId::parse(bad).is_none(), "{bad}");
        }
    }
}
