//! The cross-rule prefilter: a necessary condition per rule, checked for all rules at once.
//!
//! What it is for: most rules can only match an event that contains some literal text (a
//! `CommandLine|contains: 'mimikatz'` rule needs "mimikatz" somewhere). From each rule's
//! condition tree we derive a *required literal set* — at least one of its literals occurs in
//! the lowercased string form of some field value of every event the rule matches — and one
//! Aho-Corasick automaton over all of them finds, in one pass over an event's values, every rule
//! that may match. Those (and the rules without a set) are then verified exactly.
//!
//! What it is not for: deciding a match. A literal hit proves nothing; a miss proves the rule
//! cannot match. Anything without such a guarantee (regex, cidr, numbers, `not`, `neq`, short
//! literals) is simply "always check".

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use vigil_core::{Event, Symbol, Value};

use crate::ast::{Condition, Detection, FieldTest, Keywords, Search, SearchBody};
use crate::matcher::Matcher;

/// Literals shorter than this would hit nearly every event; a branch needing one of them is
/// treated as unfilterable (two bytes are accepted when one is a rare character, see
/// [`selective`]).
pub const MIN_LITERAL_LEN: usize = 3;

/// True when `lit` is worth a place in the automaton: at least [`MIN_LITERAL_LEN`] bytes, or two
/// bytes one of which is rare in logs (`^^`, `%%`, a non-ASCII letter).
pub fn selective(lit: &str) -> bool {
    let rare = |b: &u8| !(b.is_ascii_alphanumeric() || b" \\/.:-_,=\"'()".contains(b));
    lit.len() >= MIN_LITERAL_LEN || (lit.len() == 2 && lit.as_bytes().iter().any(rare))
}

/// The literals one of which must occur in an event the detection matches (lowercased), or
/// `None` when no such set is known.
pub fn required_literals(detection: &Detection) -> Option<Vec<String>> {
    condition(&detection.condition, &detection.searches)
}

fn condition(c: &Condition, searches: &[Search]) -> Option<Vec<String>> {
    match c {
        Condition::Search(i) => search(searches.get(*i)?),
        Condition::And(children) => best(children.iter().map(|c| condition(c, searches))),
        Condition::Or(children) => union(children.iter().map(|c| condition(c, searches))),
        Condition::Not(inner) => match &**inner {
            Condition::Not(x) => condition(x, searches),
            _ => None,
        },
    }
}

fn search(s: &Search) -> Option<Vec<String>> {
    match &s.body {
        // OR across maps, AND within a map.
        SearchBody::Fields(groups) => union(
            groups
                .iter()
                .map(|group| best(group.iter().map(field_test))),
        ),
        SearchBody::Keywords(k) => keywords(k),
    }
}

fn field_test(t: &FieldTest) -> Option<Vec<String>> {
    if t.negate || t.values.is_empty() {
        return None;
    }
    values(&t.values, t.all)
}

fn keywords(k: &Keywords) -> Option<Vec<String>> {
    if k.values.is_empty() {
        return None;
    }
    values(&k.values, k.all)
}

/// Every value must match under `all` (any one value's set is required), else one of them
/// (the union is required).
fn values(values: &[Matcher], all: bool) -> Option<Vec<String>> {
    let sets = values.iter().map(|m| normalise(matcher_literals(m)?));
    if all { best(sets) } else { union(sets) }
}

/// [`Matcher::prefilter_literals`], plus literals every match of a regex must contain.
fn matcher_literals(m: &Matcher) -> Option<Vec<String>> {
    match m {
        Matcher::Regex(re) => regex_literals(re.as_str()),
        Matcher::AnyOf(ms) => union(ms.iter().map(matcher_literals)),
        other => other.prefilter_literals(),
    }
}

/// Literals one of which starts every match of `pattern`, lowercased.
///
/// The pattern is parsed case-insensitively whatever its flags (a superset of its matches, so
/// the literals stay necessary), and the prefixes are lowercased to compare with lowered text.
/// A literal with `Σ` is dropped: its lowercase depends on what follows it.
fn regex_literals(pattern: &str) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(true)
        .build()
        .parse(pattern)
        .ok()?;
    // Case-insensitive letters multiply the variants; a higher total keeps longer prefixes.
    let seq = Extractor::new()
        .kind(ExtractKind::Prefix)
        .limit_total(2048)
        .extract(&hir);
    let mut out = Vec::new();
    for lit in seq.literals()? {
        let bytes = lit.as_bytes();
        // A trimmed literal may end inside a character; a prefix of a prefix still holds.
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?,
        };
        if text.contains(['Σ', 'σ', 'ς']) {
            return None;
        }
        out.push(text.to_lowercase());
    }
    normalise(out)
}

/// The most selective of the known sets (an AND needs all of them; one is enough to filter).
fn best(sets: impl Iterator<Item = Option<Vec<String>>>) -> Option<Vec<String>> {
    sets.flatten().max_by_key(|s| quality(s))
}

/// The union, if every branch has a set (an OR is filterable only when every branch is).
fn union(sets: impl Iterator<Item = Option<Vec<String>>>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for s in sets {
        out.extend(s?);
    }
    if out.is_empty() {
        return None;
    }
    normalise(out)
}

/// Text found in a large share of Windows events (lowercased). A literal contained in one of
/// these fires on most events, so an AND prefers a sibling with rarer literals.
const COMMON_TEXT: &[&str] = &[
    "c:\\windows\\system32\\windowspowershell\\v1.0\\powershell.exe",
    "c:\\windows\\system32\\svchost.exe -k netsvcs -p",
    "c:\\windows\\system32\\cmd.exe",
    "c:\\windows\\system32\\conhost.exe",
    "c:\\windows\\system32\\rundll32.exe",
    "c:\\windows\\system32\\wbem\\wmiprvse.exe",
    "c:\\windows\\syswow64\\",
    "c:\\windows\\explorer.exe",
    "c:\\windows\\temp\\",
    "c:\\program files (x86)\\",
    "c:\\program files\\",
    "c:\\programdata\\",
    "c:\\users\\public\\",
    "\\appdata\\local\\temp\\",
    "\\appdata\\roaming\\",
    "microsoft corporation",
    "microsoft® windows® operating system",
    "nt authority\\system",
    "hklm\\software\\microsoft\\windows\\currentversion\\",
    "hklm\\system\\currentcontrolset\\services\\",
    "sha1=,md5=,sha256=,imphash=",
    ".dll",
];

/// True when `lit` occurs in common Windows event text (see [`COMMON_TEXT`]).
fn common(lit: &str) -> bool {
    COMMON_TEXT.iter().any(|t| t.contains(lit))
}

/// Higher is more selective: sets without common literals first, then the shortest literal
/// decides how often the set fires, then fewer literals is better.
fn quality(set: &[String]) -> (bool, usize, std::cmp::Reverse<usize>) {
    let shortest = set.iter().map(String::len).min().unwrap_or(0);
    let rare = !set.iter().any(|l| common(l));
    (rare, shortest, std::cmp::Reverse(set.len()))
}

/// Deduplicates, drops literals that contain another literal of the set (the shorter one fires
/// whenever the longer does), and rejects sets with a literal too short to be useful.
fn normalise(mut set: Vec<String>) -> Option<Vec<String>> {
    if set.is_empty() || !set.iter().all(|l| selective(l)) {
        return None;
    }
    set.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    set.dedup();
    // Pruning is quadratic; large sets (long value lists) only lose a little by skipping it.
    if set.len() > PRUNE_MAX {
        return Some(set);
    }
    let mut kept: Vec<String> = Vec::with_capacity(set.len());
    for lit in set {
        if !kept.iter().any(|k| lit.contains(k.as_str())) {
            kept.push(lit);
        }
    }
    Some(kept)
}

/// Largest literal set pruned of literals that contain another.
const PRUNE_MAX: usize = 64;

/// Literals kept per automaton before it is built as a full DFA (fast, but memory grows with
/// the number of states); larger sets use aho-corasick's own choice (a contiguous NFA).
const DFA_MAX_PATTERNS: usize = 500;

/// One automaton over the required literals of a set of items (the engine's rule variants),
/// and which items each literal serves.
#[derive(Debug)]
pub struct Prefilter {
    automaton: Option<AhoCorasick>,
    /// Pattern id → item ids that list this literal.
    pattern_items: Vec<Vec<u32>>,
}

/// Per-thread state of prefilter scans: which items were seen in the current event.
#[derive(Debug, Default)]
pub struct ScanState {
    /// Per item: the `epoch` in which one of its literals was last seen.
    marks: Vec<u32>,
    /// The current event's number.
    epoch: u32,
    /// Items marked in the current event, in the order they were found.
    candidates: Vec<u32>,
    /// Per pattern: the scan in which it was last reported (repeat hits are skipped).
    seen: Vec<u32>,
    scan: u32,
    num_buf: String,
    lower_buf: String,
}

impl ScanState {
    /// Starts a new event over `items` items.
    pub fn next_event(&mut self, items: usize) {
        if self.marks.len() != items {
            self.marks.clear();
            self.marks.resize(items, 0);
            self.epoch = 0;
        }
        self.candidates.clear();
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.epoch = 1;
        }
    }

    /// True when a scan of the current event saw one of `item`'s literals.
    pub fn marked(&self, item: u32) -> bool {
        self.marks[item as usize] == self.epoch
    }

    /// The items marked in the current event (each once).
    pub fn candidates(&self) -> &[u32] {
        &self.candidates
    }
}

impl Prefilter {
    /// Builds the automaton from `(item id, literal set)` pairs.
    pub fn build(sets: &[(u32, Vec<String>)]) -> Prefilter {
        let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        let mut patterns: Vec<&str> = Vec::new();
        let mut pattern_items: Vec<Vec<u32>> = Vec::new();
        for (item, set) in sets {
            for lit in set {
                let id = *index.entry(lit.as_str()).or_insert_with(|| {
                    patterns.push(lit.as_str());
                    pattern_items.push(Vec::new());
                    patterns.len() - 1
                });
                if pattern_items[id].last() != Some(item) {
                    pattern_items[id].push(*item);
                }
            }
        }
        let automaton = (!patterns.is_empty()).then(|| {
            let mut b = AhoCorasick::builder();
            b.match_kind(MatchKind::Standard);
            if patterns.len() <= DFA_MAX_PATTERNS {
                b.kind(Some(AhoCorasickKind::DFA));
            }
            b.build(&patterns).expect("literal patterns always build")
        });
        Prefilter {
            automaton,
            pattern_items,
        }
    }

    /// Number of distinct literals.
    pub fn literal_count(&self) -> usize {
        self.pattern_items.len()
    }

    /// Heap memory of the automaton, in bytes.
    pub fn memory_usage(&self) -> usize {
        self.automaton.as_ref().map_or(0, AhoCorasick::memory_usage)
    }

    /// Marks every item with a literal occurring in the lowercased string form of a value of
    /// `event` — of the fields in `fields` (sorted) only, when given — and adds it to
    /// [`ScanState::candidates`] once.
    pub fn scan(&self, event: &Event, fields: Option<&[Symbol]>, state: &mut ScanState) {
        let Some(ac) = &self.automaton else {
            return;
        };
        if state.seen.len() < self.pattern_items.len() {
            state.seen.resize(self.pattern_items.len(), 0);
        }
        state.scan = state.scan.wrapping_add(1);
        if state.scan == 0 {
            state.seen.iter_mut().for_each(|s| *s = 0);
            state.scan = 1;
        }
        for field in event.fields() {
            if fields.is_some_and(|f| f.binary_search(&field.name).is_err()) {
                continue;
            }
            self.scan_value(ac, &field.value, state);
        }
    }

    fn scan_value(&self, ac: &AhoCorasick, value: &Value, state: &mut ScanState) {
        if let Value::List(items) = value {
            for v in items {
                self.scan_value(ac, v, state);
            }
            return;
        }
        let ScanState {
            marks,
            epoch,
            candidates,
            seen,
            scan,
            num_buf,
            lower_buf,
        } = state;
        let text: &str = match value {
            Value::Str(t) => t.lower(),
            Value::Null | Value::List(_) => return,
            other => match other.scalar_str(num_buf) {
                Some(s) => {
                    lower_buf.clear();
                    lower_buf.push_str(s);
                    lower_buf.make_ascii_lowercase();
                    lower_buf.as_str()
                }
                None => return,
            },
        };
        if text.len() < 2 {
            return;
        }
        for m in ac.find_overlapping_iter(text) {
            let p = m.pattern().as_usize();
            if seen[p] == *scan {
                continue;
            }
            seen[p] = *scan;
            for &item in &self.pattern_items[p] {
                if marks[item as usize] != *epoch {
                    marks[item as usize] = *epoch;
                    candidates.push(item);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::StrKind;
    use vigil_core::Symbol;

    fn s(kind: StrKind, p: &str) -> Matcher {
        Matcher::Str {
            kind,
            pattern: p.into(),
            cased: false,
        }
    }

    fn test(field: &str, values: Vec<Matcher>, all: bool, negate: bool) -> FieldTest {
        FieldTest {
            field: Symbol::intern(field),
            raw: values.iter().map(|v| format!("{v:?}")).collect(),
            values,
            all,
            negate,
            written: field.into(),
            location: Default::default(),
        }
    }

    fn det(searches: Vec<Vec<Vec<FieldTest>>>, condition: Condition) -> Detection {
        Detection {
            searches: searches
                .into_iter()
                .enumerate()
                .map(|(i, g)| Search {
                    name: format!("s{i}"),
                    body: SearchBody::Fields(g),
                })
                .collect(),
            condition,
        }
    }

    #[test]
    fn and_picks_the_best_child_or_unions_and_not_drops() {
        let sel = vec![vec![
            test(
                "Image",
                vec![s(StrKind::EndsWith, "\\cmd.exe")],
                false,
                false,
            ),
            test(
                "CommandLine",
                vec![
                    s(StrKind::Contains, "lsadump::"),
                    s(StrKind::Contains, "sekurlsa::"),
                ],
                false,
                false,
            ),
        ]];
        let filter = vec![vec![test(
            "User",
            vec![s(StrKind::Contains, "system")],
            false,
            false,
        )]];
        let d = det(
            vec![sel.clone(), filter.clone()],
            Condition::And(vec![
                Condition::Search(0),
                Condition::Not(Box::new(Condition::Search(1))),
            ]),
        );
        assert_eq!(
            required_literals(&d),
            Some(vec!["lsadump::".to_string(), "sekurlsa::".to_string()])
        );
        let d = det(
            vec![sel, filter],
            Condition::Or(vec![
                Condition::Search(0),
                Condition::Not(Box::new(Condition::Search(1))),
            ]),
        );
        assert_eq!(required_literals(&d), None);
    }

    #[test]
    fn short_literals_negation_and_all() {
        let short = det(
            vec![vec![vec![test(
                "A",
                vec![s(StrKind::Contains, "-e")],
                false,
                false,
            )]]],
            Condition::Search(0),
        );
        assert_eq!(required_literals(&short), None);
        let neq = det(
            vec![vec![vec![test(
                "A",
                vec![s(StrKind::Contains, "abcd")],
                false,
                true,
            )]]],
            Condition::Search(0),
        );
        assert_eq!(required_literals(&neq), None);
        let all = det(
            vec![vec![vec![test(
                "A",
                vec![s(StrKind::Contains, "-e"), s(StrKind::Contains, "invoke-")],
                true,
                false,
            )]]],
            Condition::Search(0),
        );
        assert_eq!(required_literals(&all), Some(vec!["invoke-".to_string()]));
    }

    #[test]
    fn regex_prefixes_are_required_literals() {
        let l = regex_literals(r"ipconfig\s+/all").unwrap();
        assert!(l.len() == 1 && l[0].starts_with("ipcon"), "{l:?}");
        let l = regex_literals(r#"(?i)\.exe["']?\s+x"#).unwrap();
        assert_eq!(l, vec![".exe".to_string()]);
        assert_eq!(regex_literals(r"\s+net"), None);
        assert_eq!(regex_literals(r"a|bcd"), None);
        assert!(selective("^^") && !selective("-e") && selective("abc"));
    }

    #[test]
    fn scan_marks_rules_by_literal() {
        let p = Prefilter::build(&[(0, vec!["mimikatz".into()]), (2, vec!["4688".into()])]);
        let mut e = Event::default();
        e.insert("CommandLine", Value::str("C:\\x\\MimiKatz.exe mimikatz"));
        let mut st = ScanState::default();
        st.next_event(3);
        p.scan(&e, None, &mut st);
        assert!(st.marked(0) && !st.marked(1) && !st.marked(2));
        assert_eq!(st.candidates(), &[0]);
        e.insert("EventID", Value::Int(4688));
        st.next_event(3);
        p.scan(&e, None, &mut st);
        assert!(st.marked(0) && st.marked(2));
        // Restricted to fields that do not hold the literals: nothing is marked.
        st.next_event(3);
        let mut only = vec![Symbol::intern("Image")];
        only.sort();
        p.scan(&e, Some(&only), &mut st);
        assert!(!st.marked(0) && !st.marked(2));
    }
}
