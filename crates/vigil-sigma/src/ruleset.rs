//! Loading rule files and directories into a [`RuleSet`], with a report of everything that
//! was not loaded and why.
//!
//! What it is for: walking paths (recursively, `.yml`/`.yaml`), parsing files in parallel in a
//! deterministic order, applying filter meta-rules, and accounting for every document. What it
//! is not for: compiling rules for fast matching (see `engine`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::ast::{Location, Rule};
use crate::correlation::CorrelationRule;
use crate::error::{ParseError, RejectReason};
use crate::filter::FilterRule;
use crate::parse::{Document, parse_source};

/// Engine-independent Sigma settings: today the values of `%placeholder%`s used with `|expand`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SigmaConfig {
    /// Placeholder name (without `%`) → the values it stands for.
    pub placeholders: HashMap<String, Vec<String>>,
}

impl SigmaConfig {
    /// Reads a YAML file: a map of placeholder name → value or list of values, either at the
    /// top level or under a `placeholders:` key.
    pub fn from_file(path: &Path) -> Result<SigmaConfig, ParseError> {
        let src = std::fs::read_to_string(path).map_err(|e| {
            ParseError::new(
                0,
                RejectReason::Io {
                    message: format!("{}: {e}", path.display()),
                },
            )
        })?;
        SigmaConfig::from_yaml(&src)
    }

    /// Parses the YAML text of a configuration file (see [`SigmaConfig::from_file`]).
    pub fn from_yaml(src: &str) -> Result<SigmaConfig, ParseError> {
        use crate::parse::yaml::{NodeKind, parse_documents};
        let (docs, err) = parse_documents(src);
        if let Some(e) = err {
            return Err(e);
        }
        let mut config = SigmaConfig::default();
        let Some(doc) = docs.first() else {
            return Ok(config);
        };
        let root = doc.get("placeholders").unwrap_or(doc);
        let Some(entries) = root.as_map() else {
            return Err(ParseError::new(
                root.line,
                RejectReason::InvalidKey {
                    key: "placeholders".into(),
                    message: "expected a map of name → values".into(),
                },
            ));
        };
        for (k, v) in entries {
            let values = match &v.kind {
                NodeKind::Seq(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect(),
                NodeKind::Scalar { text, .. } => vec![text.clone()],
                NodeKind::Map(_) => {
                    return Err(ParseError::new(
                        v.line,
                        RejectReason::InvalidValue {
                            field: k.as_str().unwrap_or_default().to_string(),
                            message: "expected a value or a list of values".into(),
                        },
                    ));
                }
            };
            let name = k.as_str().unwrap_or_default();
            let name = name.trim_matches('%').to_string();
            config.placeholders.insert(name, values);
        }
        Ok(config)
    }
}

/// A document that was not loaded, where it is, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The file and the line of the offending element (0 when the file itself failed).
    pub location: Location,
    /// The document's `id`, when it got that far.
    pub rule_id: Option<String>,
    /// The document's `title`, when it got that far.
    pub title: Option<String>,
    pub reason: RejectReason,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location)?;
        if let Some(t) = &self.title {
            write!(f, "rule {t:?}: ")?;
        }
        write!(f, "{}", self.reason)
    }
}

/// Something worth knowing that did not stop a rule from loading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Where the finding is.
    pub location: Location,
    /// What was found (an unused identifier, an ignored key…).
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// How a filter meta-rule was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterApplication {
    /// The filter's id, name or title.
    pub filter: String,
    /// How many rules it was added to.
    pub rules: usize,
}

/// The account of a load: every document is loaded, rejected or counted as a correlation or
/// filter.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Rule files read.
    pub files: usize,
    /// YAML documents in them.
    pub documents: usize,
    /// Detection rules loaded.
    pub loaded: usize,
    /// Documents not loaded, each with a reason.
    pub rejected: Vec<Rejection>,
    /// Findings that did not stop a rule from loading.
    pub warnings: Vec<Warning>,
    /// Correlation rules parsed (counted as "correlation: not yet evaluated").
    pub correlations: usize,
    /// Filter rules parsed, with the number of rules each applied to.
    pub filters: Vec<FilterApplication>,
}

impl LoadReport {
    /// Counts by outcome: `loaded`, each rejection kind (`rejected: <kind>`), and
    /// `correlation: not yet evaluated`.
    pub fn by_reason(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        m.insert("loaded".to_string(), self.loaded);
        for r in &self.rejected {
            *m.entry(format!("rejected: {}", r.reason.kind()))
                .or_default() += 1;
        }
        if self.correlations > 0 {
            m.insert("correlation: not yet evaluated".into(), self.correlations);
        }
        if !self.filters.is_empty() {
            m.insert("filter".into(), self.filters.len());
        }
        m
    }

    /// The share of documents that loaded as rules, correlations or filters (0..=1).
    pub fn load_ratio(&self) -> f64 {
        if self.documents == 0 {
            return 1.0;
        }
        (self.documents - self.rejected.len()) as f64 / self.documents as f64
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} files, {} documents: {} rules loaded, {} rejected, {} correlations (not yet evaluated), {} filters, {} warnings",
            self.files,
            self.documents,
            self.loaded,
            self.rejected.len(),
            self.correlations,
            self.filters.len(),
            self.warnings.len()
        )?;
        for (k, n) in self.by_reason() {
            writeln!(f, "  {k}: {n}")?;
        }
        Ok(())
    }
}

/// Everything loaded from a set of paths.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    /// Detection rules, in path order, with filters already applied.
    pub rules: Vec<Rule>,
    /// Correlation rules, parsed but not yet evaluated.
    pub correlations: Vec<CorrelationRule>,
    /// Filter rules (already applied to `rules`).
    pub filters: Vec<FilterRule>,
    /// The account of the load.
    pub report: LoadReport,
}

/// Loads every `.yml`/`.yaml` file under `paths` (files or directories, walked recursively in
/// sorted order; parsed in parallel), then applies filter rules. Never drops a document
/// silently: see [`RuleSet::report`].
pub fn load_rules(paths: &[PathBuf], config: &SigmaConfig) -> RuleSet {
    let mut files = Vec::new();
    let mut set = RuleSet::default();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut files, &mut set.report.rejected);
        } else {
            files.push(p.clone());
        }
    }
    let parsed: Vec<_> = files
        .par_iter()
        .map(|path| {
            let name = path.display().to_string();
            match std::fs::read(path) {
                Ok(bytes) => {
                    let src = String::from_utf8_lossy(&bytes);
                    parse_source(&src, &name, &config.placeholders)
                }
                Err(e) => crate::parse::ParsedFile {
                    documents: 1,
                    items: vec![Err(Rejection {
                        location: Location {
                            file: name.as_str().into(),
                            line: 0,
                        },
                        rule_id: None,
                        title: None,
                        reason: RejectReason::Io {
                            message: e.to_string(),
                        },
                    })],
                    warnings: Vec::new(),
                },
            }
        })
        .collect();
    set.report.files = files.len();
    finish(set, parsed)
}

/// Loads the rules of one text (a rule file's content that is not on disk: a rule pasted into
/// a retro-hunt, say), named `name` in locations, with the same checks as [`load_rules`].
pub fn load_source(src: &str, name: &str, config: &SigmaConfig) -> RuleSet {
    let set = RuleSet {
        report: LoadReport {
            files: 1,
            ..LoadReport::default()
        },
        ..RuleSet::default()
    };
    finish(set, vec![parse_source(src, name, &config.placeholders)])
}

/// Sorts parsed documents into the set, then applies filters and checks references.
fn finish(mut set: RuleSet, parsed: Vec<crate::parse::ParsedFile>) -> RuleSet {
    for file in parsed {
        set.report.documents += file.documents;
        set.report.warnings.extend(file.warnings);
        for item in file.items {
            match item {
                Ok(Document::Rule(r)) => set.rules.push(*r),
                Ok(Document::Correlation(c)) => set.correlations.push(*c),
                Ok(Document::Filter(f)) => set.filters.push(*f),
                Err(rej) => set.report.rejected.push(rej),
            }
        }
    }
    apply_filters(&mut set);
    check_correlation_references(&mut set);
    set.report.loaded = set.rules.len();
    set.report.correlations = set.correlations.len();
    set
}

/// Adds each filter to the rules it targets and records how many that was.
fn apply_filters(set: &mut RuleSet) {
    for f in &set.filters {
        let mut n = 0;
        for r in &mut set.rules {
            if f.applies_to(r) {
                f.apply(r);
                n += 1;
            }
        }
        if n == 0 {
            set.report.warnings.push(Warning {
                location: f.location.clone(),
                message: format!("filter {:?} applies to no loaded rule", f.title),
            });
        }
        set.report.filters.push(FilterApplication {
            filter: f
                .id
                .clone()
                .or_else(|| f.name.clone())
                .unwrap_or_else(|| f.title.clone()),
            rules: n,
        });
    }
}

/// Warns about correlation rules that reference a rule or correlation not in the set.
fn check_correlation_references(set: &mut RuleSet) {
    let known: std::collections::HashSet<&str> = set
        .rules
        .iter()
        .flat_map(|r| [r.id.as_deref(), r.name.as_deref()])
        .chain(
            set.correlations
                .iter()
                .flat_map(|c| [c.id.as_deref(), c.name.as_deref()]),
        )
        .flatten()
        .collect();
    for c in &set.correlations {
        for r in c.rules.iter().filter(|r| !known.contains(r.as_str())) {
            set.report.warnings.push(Warning {
                location: c.location.clone(),
                message: format!("correlation {:?} references unknown rule `{r}`", c.title),
            });
        }
    }
}

/// Collects rule files under `dir` in sorted order.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, rejected: &mut Vec<Rejection>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            rejected.push(Rejection {
                location: Location {
                    file: dir.display().to_string().into(),
                    line: 0,
                },
                rule_id: None,
                title: None,
                reason: RejectReason::Io {
                    message: e.to_string(),
                },
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, out, rejected);
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
        {
            out.push(p);
        }
    }
}
