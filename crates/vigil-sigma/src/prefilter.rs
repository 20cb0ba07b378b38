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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};
use vigil_core::{Event, Symbol, Value};

use crate::ast::{Condition, Detection, FieldTest, Keywords, Search, SearchBody};
use crate::matcher::Matcher;
use crate::profile::ScanKind;

/// Literals shorter than this would hit nearly every event; a branch needing one of them is
/// treated as unfilterable (two bytes are accepted when one is a rare character, see
/// [`selective`]).
pub const MIN_LITERAL_LEN: usize = 3;

/// True when `lit` is worth a place in the automaton: at least [`MIN_LITERAL_LEN`] bytes, two
/// bytes one of which is rare in logs (`^^`, `%%`, a non-ASCII letter), or one byte that is
/// very rare in logs (PowerShell's escape `` ` ``, cmd's `^`).
pub fn selective(lit: &str) -> bool {
    let rare = |b: &u8| !(b.is_ascii_alphanumeric() || b" \\/.:-_,=\"'()".contains(b));
    lit.len() >= MIN_LITERAL_LEN
        || (lit.len() == 2 && lit.as_bytes().iter().any(rare))
        || matches!(lit.as_bytes(), [b'`' | b'^'])
}

/// A required literal: lowercased text, and the field whose value must contain it (`None`: any
/// field, from a keyword search).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Literal {
    /// The literal, lowercased.
    pub text: String,
    /// The field it must occur in; `None` for any field.
    pub field: Option<Symbol>,
}

/// The literals one of which occurs (in its field) in every event the detection matches, or
/// `None` when no such set is known.
pub fn required_literals(detection: &Detection) -> Option<Vec<Literal>> {
    condition(&detection.condition, &detection.searches, Relax::No)
}

/// Up to two literal sets each of which is required on its own (from different parts of an
/// AND), most selective first. Requiring both before verifying a rule cuts the candidates of
/// rules whose best literal is common (`\\lsass.exe` in `TargetImage` and `|unknown(` in
/// `CallTrace`, say). Empty when nothing is known.
pub fn required_literal_sets(detection: &Detection) -> Vec<Vec<Literal>> {
    let mut sets = Vec::new();
    conjuncts(
        &detection.condition,
        &detection.searches,
        Relax::No,
        &mut sets,
    );
    if sets.is_empty() {
        // Verified on every event of its logsource otherwise: any necessary set is better.
        conjuncts(
            &detection.condition,
            &detection.searches,
            Relax::Yes,
            &mut sets,
        );
    }
    sets.sort_by_key(|s| std::cmp::Reverse(quality(s)));
    sets.dedup();
    sets.truncate(2);
    sets
}

/// Which literals a set may hold: [`selective`] ones (`No`), or for a detection that has no
/// set of those, any of two bytes or more (`Yes`): a rule without a set is verified on every
/// event it is routed to, and even `. ` or `."` (Raspberry Robin's dotted file names, from its
/// regex) is far rarer than that.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Relax {
    No,
    Yes,
}

impl Relax {
    fn accepts(self, lit: &str) -> bool {
        selective(lit) || (self == Relax::Yes && lit.len() >= 2)
    }
}

/// Collects sets each of which every match requires.
fn conjuncts(c: &Condition, searches: &[Search], r: Relax, out: &mut Vec<Vec<Literal>>) {
    match c {
        Condition::And(children) => {
            for child in children {
                conjuncts(child, searches, r, out);
            }
        }
        Condition::Search(i) => match searches.get(*i).map(|s| &s.body) {
            // One map: every field test is required.
            Some(SearchBody::Fields(groups)) if groups.len() == 1 => {
                out.extend(groups[0].iter().filter_map(|t| field_test(t, r)));
            }
            _ => out.extend(condition(c, searches, r)),
        },
        other => out.extend(condition(other, searches, r)),
    }
}

fn condition(c: &Condition, searches: &[Search], r: Relax) -> Option<Vec<Literal>> {
    match c {
        Condition::Search(i) => search(searches.get(*i)?, r),
        Condition::And(children) => best(children.iter().map(|c| condition(c, searches, r))),
        Condition::Or(children) => union(children.iter().map(|c| condition(c, searches, r)), r),
        Condition::Not(inner) => match &**inner {
            Condition::Not(x) => condition(x, searches, r),
            _ => None,
        },
    }
}

fn search(s: &Search, r: Relax) -> Option<Vec<Literal>> {
    match &s.body {
        // OR across maps, AND within a map.
        SearchBody::Fields(groups) => union(
            groups
                .iter()
                .map(|group| best(group.iter().map(|t| field_test(t, r)))),
            r,
        ),
        SearchBody::Keywords(k) => keywords(k, r),
    }
}

fn field_test(t: &FieldTest, r: Relax) -> Option<Vec<Literal>> {
    if t.negate || t.values.is_empty() {
        return None;
    }
    let texts = values(&t.values, t.all, r)?;
    Some(at(texts, Some(t.field)))
}

fn keywords(k: &Keywords, r: Relax) -> Option<Vec<Literal>> {
    if k.values.is_empty() {
        return None;
    }
    Some(at(values(&k.values, k.all, r)?, None))
}

fn at(texts: Vec<String>, field: Option<Symbol>) -> Vec<Literal> {
    texts
        .into_iter()
        .map(|text| Literal { text, field })
        .collect()
}

/// Every value must match under `all` (any one value's set is required), else one of them
/// (the union is required).
fn values(values: &[Matcher], all: bool, r: Relax) -> Option<Vec<String>> {
    let sets = values
        .iter()
        .map(|m| normalise(at(matcher_literals(m, r)?, None), r));
    let set = if all { best(sets) } else { union(sets, r) }?;
    Some(set.into_iter().map(|l| l.text).collect())
}

/// [`Matcher::prefilter_literals`], plus literals every match of a regex must contain.
fn matcher_literals(m: &Matcher, r: Relax) -> Option<Vec<String>> {
    match m {
        Matcher::Regex(re) => regex_literals(re.as_str(), r),
        Matcher::AnyOf(ms) => {
            let sets = ms.iter().map(|m| Some(at(matcher_literals(m, r)?, None)));
            Some(union(sets, r)?.into_iter().map(|l| l.text).collect())
        }
        other => other.prefilter_literals(),
    }
}

/// Literals one of which starts every match of `pattern`, lowercased.
///
/// The pattern is parsed case-insensitively whatever its flags (a superset of its matches, so
/// the literals stay necessary), and the prefixes are lowercased to compare with lowered text.
/// A literal with `Σ` is dropped: its lowercase depends on what follows it.
fn regex_literals(pattern: &str, r: Relax) -> Option<Vec<String>> {
    use regex_syntax::hir::{Hir, HirKind};
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(true)
        .build()
        .parse(pattern)
        .ok()?;
    // Every match of a concatenation contains a match of each of its tails, so the prefixes of
    // any tail are required too: `\.exe\s+.*werfaultsecure\.exe` yields `werfaultsecure.exe`,
    // far more selective than the `.exe` that starts it. The most selective set wins.
    let mut hir = &hir;
    while let HirKind::Capture(c) = hir.kind() {
        hir = &c.sub;
    }
    let tails: Vec<Hir> = match hir.kind() {
        HirKind::Concat(children) => (0..children.len())
            .map(|i| Hir::concat(children[i..].to_vec()))
            .collect(),
        _ => vec![hir.clone()],
    };
    best(tails.iter().map(|t| prefix_literals(t, r)))
        .map(|set| set.into_iter().map(|l| l.text).collect())
}

/// Character classes up to this size are expanded when extracting a regex's literals: `\s`
/// (25 Unicode spaces) and case-insensitive hex digits (22) then lengthen a prefix (`net\s+`
/// gives `net ` and its 24 siblings rather than `net`, which `netsvcs` contains; `0x[0-9a-f]`
/// gives `0x0`…`0xf` rather than the unfilterable `0x`).
const WIDE_CLASS: usize = 26;

/// A set extracted with [`WIDE_CLASS`] is used only up to this many literals (the automata
/// hold every one of them).
const WIDE_CLASS_MAX_LITERALS: usize = 256;

/// The literals one of which starts every match of `hir`, lowercased and normalised: the
/// better of the sets extracted with regex-syntax's default class limit (10) and with
/// [`WIDE_CLASS`] (both are necessary; the wide one only while it stays small).
fn prefix_literals(hir: &regex_syntax::hir::Hir, r: Relax) -> Option<Vec<Literal>> {
    let wide =
        prefix_literals_with(hir, WIDE_CLASS, r).filter(|set| set.len() <= WIDE_CLASS_MAX_LITERALS);
    best([prefix_literals_with(hir, 10, r), wide].into_iter())
}

/// [`prefix_literals`] with classes of up to `class_limit` characters expanded.
fn prefix_literals_with(
    hir: &regex_syntax::hir::Hir,
    class_limit: usize,
    r: Relax,
) -> Option<Vec<Literal>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    // Case-insensitive letters multiply the variants; a higher total keeps longer prefixes.
    let seq = Extractor::new()
        .kind(ExtractKind::Prefix)
        .limit_class(class_limit)
        .limit_total(2048)
        .extract(hir);
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
    normalise(at(out, None), r)
}

/// The most selective of the known sets (an AND needs all of them; one is enough to filter).
fn best(sets: impl Iterator<Item = Option<Vec<Literal>>>) -> Option<Vec<Literal>> {
    sets.flatten().max_by_key(|s| quality(s))
}

/// The union, if every branch has a set (an OR is filterable only when every branch is).
fn union(sets: impl Iterator<Item = Option<Vec<Literal>>>, r: Relax) -> Option<Vec<Literal>> {
    let mut out = Vec::new();
    for s in sets {
        out.extend(s?);
    }
    if out.is_empty() {
        return None;
    }
    normalise(out, r)
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
fn quality(set: &[Literal]) -> (bool, usize, std::cmp::Reverse<usize>) {
    let shortest = set.iter().map(|l| l.text.len()).min().unwrap_or(0);
    let rare = !set.iter().any(|l| common(&l.text));
    (rare, shortest, std::cmp::Reverse(set.len()))
}

/// Deduplicates, drops literals that contain another literal of the set in the same field (or
/// in any field — the shorter one fires whenever the longer does), and rejects sets with a
/// literal too short to be useful.
fn normalise(mut set: Vec<Literal>, r: Relax) -> Option<Vec<Literal>> {
    if set.is_empty() || !set.iter().all(|l| r.accepts(&l.text)) {
        return None;
    }
    set.sort_by(|a, b| (a.text.len(), &a.text, a.field).cmp(&(b.text.len(), &b.text, b.field)));
    set.dedup();
    // Pruning is quadratic; large sets (long value lists) only lose a little by skipping it.
    if set.len() > PRUNE_MAX {
        return Some(set);
    }
    let mut kept: Vec<Literal> = Vec::with_capacity(set.len());
    for lit in set {
        let covered = kept.iter().any(|k| {
            (k.field.is_none() || k.field == lit.field) && lit.text.contains(k.text.as_str())
        });
        if !covered {
            kept.push(lit);
        }
    }
    Some(kept)
}

/// Largest literal set pruned of literals that contain another.
const PRUNE_MAX: usize = 64;

/// Longest literal put in an automaton, in bytes. A longer required literal is represented by
/// its last `WINDOW` bytes: any piece of a required literal is required too, so the prefilter
/// stays a necessary condition, while the automata shrink (SigmaHQ's `CommandLine` literals
/// as a full DFA: 60 MB; windowed: a few MB) and so do the walks' cache misses.
const WINDOW: usize = 12;

/// The bytes of `lit` the automaton looks for (see [`WINDOW`]).
fn window(lit: &[u8]) -> &[u8] {
    &lit[lit.len().saturating_sub(WINDOW)..]
}

/// Literal sets up to this size get a SIMD-prefiltered gate automaton (see [`Automaton`]).
const GATE_MAX_PATTERNS: usize = 64;

/// Per-field automata over the required literals of a set of items (the engine's rule
/// variants): a literal from a `field: value` test is only looked for in that field's values;
/// keyword literals in every value.
#[derive(Debug)]
pub struct Prefilter {
    /// Sorted by field.
    by_field: Vec<(Symbol, Automaton)>,
    any_field: Option<Automaton>,
    /// Patterns over all automata (each has its own range, for [`ScanState`]'s seen table).
    patterns: usize,
    /// Unique among all prefilters of the process (keys the per-thread field plans).
    id: u64,
}

static NEXT_PREFILTER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

#[derive(Debug)]
struct Automaton {
    /// The searchers, shared by every automaton with the same literals (in any field).
    search: Arc<Searchers>,
    /// Pattern id → item ids that list this literal.
    items: PatternItems,
    /// Length of the shortest pattern (shorter values cannot contain one).
    min_len: usize,
    /// First index of this automaton's patterns in the seen table.
    offset: usize,
}

impl Automaton {
    /// Tells the profile (a no-op without the `profile` feature) of one value scanned since
    /// `started`.
    #[inline]
    fn profile_scan(&self, kind: ScanKind, text: &str, started: u64) {
        crate::profile::scanned(
            Arc::as_ptr(&self.search) as usize,
            self.items.heads.len(),
            kind,
            text.len(),
            started,
        );
    }
}

/// Pattern id → the items listing that literal, packed for [`Hits::mark`]: most literals
/// belong to one item, whose id is stored in place; the others point into one array of lists.
/// A reported literal then costs one load from a dense array instead of a `Vec` header and its
/// heap buffer (two cache misses, in a table of tens of thousands of literals).
#[derive(Debug, Default)]
struct PatternItems {
    /// Per pattern: its one item's id, or [`PatternItems::LIST`] | where its list starts in
    /// `lists`.
    heads: Vec<u32>,
    /// Lists of items: each is its length followed by the ids.
    lists: Vec<u32>,
}

impl PatternItems {
    /// Marks a head that points into `lists` (item ids and list offsets stay far below it).
    const LIST: u32 = 1 << 31;

    fn new(items: Vec<Vec<u32>>) -> PatternItems {
        let mut packed = PatternItems::default();
        for ids in items {
            match ids.as_slice() {
                [one] if *one < Self::LIST => packed.heads.push(*one),
                _ => {
                    packed.heads.push(Self::LIST | packed.lists.len() as u32);
                    packed.lists.push(ids.len() as u32);
                    packed.lists.extend_from_slice(&ids);
                }
            }
        }
        packed
    }

    /// Calls `f` with each item listing pattern `p`.
    #[inline]
    fn for_each(&self, p: usize, mut f: impl FnMut(u32)) {
        let head = self.heads[p];
        if head & Self::LIST == 0 {
            f(head);
            return;
        }
        let at = (head & !Self::LIST) as usize;
        let len = self.lists[at] as usize;
        for &item in &self.lists[at + 1..at + 1 + len] {
            f(item);
        }
    }
}

/// The automata over one field's literals. Buckets often hold the same literals (the variants
/// a channel adds to each of its EventID buckets, keyword lists of one service, a field renamed
/// by the logsource mapping): they share one `Searchers`, so the rule set keeps one copy in
/// memory and in cache, and a value scanned for one bucket is answered from the memo for the
/// next.
#[derive(Debug)]
struct Searchers {
    /// Reports every literal occurring in a value (see [`Walker`]).
    ac: Walker,
    /// A leftmost-first automaton over the same literals, only asked "is there any?": unlike
    /// overlapping search it can use the SIMD (Teddy) prefilter, so a value without any literal
    /// (the common case) is rejected at memory speed.
    gate: Option<AhoCorasick>,
    /// For a set too large for that gate whose literals are all long (SigmaHQ's `Hashes`
    /// sets: 12-byte windows of hashes, found in few values): see [`GramGate`].
    grams: Option<GramGate>,
}

/// An exact gate for a set of literals all at least [`GramGate::MIN_LITERAL`] bytes long:
/// every 8-byte piece of every literal is in a Bloom filter, and a value is walked only if one
/// of the 8-byte pieces starting every `stride` bytes is in it. An occurrence of a literal of
/// length `L` covers `L - 7` consecutive piece starts, at least `stride` of them, so one of the
/// pieces looked at lies inside it: no value holding a literal is turned away; a value without
/// any passes only through a filter false positive (two bits per piece, under 1 % per piece at
/// the sizes chosen). A 165-byte `Hashes` value costs 33 probes instead of a 165-byte walk
/// through a cold 420-literal automaton (≈ 25 ticks a byte, a literal in 6 of ~700 values).
#[derive(Debug)]
struct GramGate {
    bits: Box<[u64]>,
    /// `bits` has 2^`log2` bits.
    log2: u32,
    stride: usize,
}

impl GramGate {
    /// The length of a piece.
    const Q: usize = 8;
    /// Shortest literal length the gate is built for (stride 5: a fifth of the bytes probed).
    const MIN_LITERAL: usize = 12;

    /// The gate for `patterns`, if they are all long enough.
    fn build(patterns: &[&[u8]]) -> Option<GramGate> {
        let min = patterns.iter().map(|p| p.len()).min()?;
        if min < Self::MIN_LITERAL {
            return None;
        }
        let pieces: usize = patterns.iter().map(|p| p.len() - Self::Q + 1).sum();
        // About 64 bits per piece (two set): ≈ 3 % of bits set, ≈ 0.1 % false positives per
        // probe; between 4 KB and 256 KB.
        let log2 = (pieces * 64)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(15, 21);
        let mut gate = GramGate {
            bits: vec![0u64; 1 << (log2 - 6)].into_boxed_slice(),
            log2,
            stride: min - Self::Q + 1,
        };
        for p in patterns {
            for w in p.windows(Self::Q) {
                for b in gate.bit_pair(w) {
                    gate.bits[b / 64] |= 1 << (b % 64);
                }
            }
        }
        Some(gate)
    }

    /// The two bits of an 8-byte piece.
    #[inline]
    fn bit_pair(&self, piece: &[u8]) -> [usize; 2] {
        let mut word = [0u8; 8];
        word.copy_from_slice(&piece[..Self::Q]);
        let h = u64::from_le_bytes(word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mask = (1u64 << self.log2) - 1;
        [
            (h >> (64 - self.log2)) as usize,
            ((h >> 17) & mask) as usize,
        ]
    }

    /// False only when `text` holds none of the literals.
    #[inline]
    fn may_match(&self, text: &[u8]) -> bool {
        if text.len() < Self::Q {
            return false;
        }
        (0..=text.len() - Self::Q).step_by(self.stride).any(|at| {
            self.bit_pair(&text[at..at + Self::Q])
                .iter()
                .all(|&b| self.bits[b / 64] & (1 << (b % 64)) != 0)
        })
    }

    /// Heap memory, in bytes.
    fn memory_usage(&self) -> usize {
        self.bits.len() * 8
    }
}

/// An automaton over one field's literals, walked byte by byte to report every literal
/// occurring in a value (what an overlapping search reports).
///
/// A double array (daachorse): each state is 12 bytes and a state's children sit at
/// `base ^ byte` in one array (the root's in a dense table), so a transition is one or two
/// loads close together. The walks over values that miss the memo are dominated by cache
/// misses: replayed cold, SigmaHQ's large sets walk in about half the time of aho-corasick's
/// contiguous NFA and the small ones in half that of its DFA, whose memory it cuts to a fifth
/// (crate README, 2026-12-02).
/// aho-corasick's automata are walked (over its
/// [`Automaton`](aho_corasick::automaton::Automaton) interface, not `find_overlapping_iter`,
/// which returns and re-enters its search loop at every match) only if daachorse refuses the
/// set (over 2^24 literals or states).
enum Walker {
    /// The walker used: a double-array Aho-Corasick automaton with standard semantics.
    DoubleArray(daachorse::DoubleArrayAhoCorasick<u32>),
    /// Fallback for sets daachorse cannot hold.
    Contiguous(aho_corasick::nfa::contiguous::NFA),
    /// Only if a contiguous NFA cannot be built either (too many states for its encoding).
    Noncontiguous(aho_corasick::nfa::noncontiguous::NFA),
}

/// daachorse's automaton has no `Debug`: the kind and size stand for it.
impl std::fmt::Debug for Walker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Walker::DoubleArray(_) => "DoubleArray",
            Walker::Contiguous(_) => "Contiguous",
            Walker::Noncontiguous(_) => "Noncontiguous",
        };
        write!(f, "Walker::{kind}({} bytes)", self.memory_usage())
    }
}

impl Walker {
    /// The automaton over `patterns` (distinct, non-empty) with standard (all matches)
    /// semantics.
    fn build(patterns: &[&[u8]]) -> Walker {
        const BUILT: &str = "literal patterns always build";
        // No SOG prefilter: its 64 KB table per automaton would cost more memory (and cache)
        // than most automata themselves; sets up to `GATE_MAX_PATTERNS` have the Teddy gate.
        let built = daachorse::DoubleArrayAhoCorasickBuilder::new()
            .match_kind(daachorse::MatchKind::Standard)
            .use_prefilter(false)
            .build(patterns);
        if let Ok(da) = built {
            return Walker::DoubleArray(da);
        }
        match aho_corasick::nfa::contiguous::Builder::new()
            .match_kind(MatchKind::Standard)
            .build(patterns)
        {
            Ok(nfa) => Walker::Contiguous(nfa),
            Err(_) => Walker::Noncontiguous(
                aho_corasick::nfa::noncontiguous::Builder::new()
                    .match_kind(MatchKind::Standard)
                    .build(patterns)
                    .expect(BUILT),
            ),
        }
    }

    /// Calls `f` with the pattern id of every occurrence of a literal in `text`, ordered by
    /// where the occurrence ends (several ending at one byte: in no particular order).
    #[inline]
    fn for_each_match(&self, text: &[u8], mut f: impl FnMut(usize)) {
        match self {
            Walker::DoubleArray(a) => {
                for m in a.find_overlapping_iter(text) {
                    f(m.value() as usize);
                }
            }
            Walker::Contiguous(a) => walk(a, text, f),
            Walker::Noncontiguous(a) => walk(a, text, f),
        }
    }

    /// Heap memory of the automaton, in bytes.
    fn memory_usage(&self) -> usize {
        use aho_corasick::automaton::Automaton;
        match self {
            Walker::DoubleArray(a) => a.heap_bytes(),
            Walker::Contiguous(a) => a.memory_usage(),
            Walker::Noncontiguous(a) => a.memory_usage(),
        }
    }
}

/// [`Walker::for_each_match`] over one automaton: an unanchored walk whose match states list
/// every literal ending at that byte (aho-corasick copies the matches of a state's failure
/// chain into it for standard semantics), so nothing an overlapping search finds is missed.
#[inline]
fn walk<A: aho_corasick::automaton::Automaton>(a: &A, text: &[u8], mut f: impl FnMut(usize)) {
    use aho_corasick::Anchored;
    let Ok(mut sid) = a.start_state(Anchored::No) else {
        return;
    };
    for &byte in text {
        sid = a.next_state(Anchored::No, sid, byte);
        if a.is_special(sid) {
            if a.is_dead(sid) {
                return;
            }
            if a.is_match(sid) {
                for i in 0..a.match_len(sid) {
                    f(a.match_pattern(sid, i).as_usize());
                }
            }
        }
    }
}

/// Searchers already built for a rule set, by pattern list (see [`Searchers`]). The field is
/// not part of the key: what a searcher finds in a value does not depend on the field it came
/// from, so a renamed field (Sysmon's `Image`, Security 4688's `NewProcessName`) shares the
/// automaton, its place in cache and its memo results.
#[derive(Debug, Default)]
pub struct SharedAutomata {
    built: HashMap<Vec<Vec<u8>>, Arc<Searchers>>,
}

impl SharedAutomata {
    /// The searchers over `patterns`, built on first request.
    fn get(&mut self, patterns: &[&[u8]]) -> Arc<Searchers> {
        let key = patterns.iter().map(|p| p.to_vec()).collect();
        self.built
            .entry(key)
            .or_insert_with(|| {
                let ac = Walker::build(patterns);
                let gate = (patterns.len() <= GATE_MAX_PATTERNS).then(|| {
                    AhoCorasick::builder()
                        .match_kind(MatchKind::LeftmostFirst)
                        .build(patterns)
                        .expect("literal patterns always build")
                });
                let grams = gate.is_none().then(|| GramGate::build(patterns)).flatten();
                Arc::new(Searchers { ac, gate, grams })
            })
            .clone()
    }
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
    /// Every value of the current event, lowercased, joined by newlines (keyword scan).
    joined: String,
    /// Scan results of recently seen short values (see [`Memo`]).
    memo: Memo,
    /// Which fields the automata of recent passes look at (see [`PassPlan`]).
    plans: Vec<PassPlan>,
}

/// Values up to this many bytes have their scan results remembered.
const MEMO_TEXT_MAX: usize = 256;
/// Results with more matched literals than this are not remembered.
const MEMO_PATTERNS_MAX: usize = 6;
/// Slots of the direct-mapped memo (about 600 KB per thread).
const MEMO_SLOTS: usize = 2048;

/// A direct-mapped cache of (automaton, value) → literals found, per thread.
///
/// Log fields repeat heavily (the same `Image`, `Hashes`, `Product`, `User` on thousands of
/// events); remembering what a short value contains skips the automaton walk, whose cost is
/// mostly cache misses in large automata. Entries compare the whole value, so a hit is exact;
/// slots are preallocated and overwritten, so a warm scan allocates nothing.
#[derive(Debug)]
struct Memo {
    slots: Vec<MemoSlot>,
    hasher: foldhash::fast::FixedState,
}

/// Laid out from a cache-line boundary with the tag and the literals found first: a miss reads
/// one line, a hit on a value up to 21 bytes one line, longer values the lines they need.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
struct MemoSlot {
    /// Address of the searchers the result belongs to (0 = empty slot).
    automaton: usize,
    hash: u64,
    patterns: [u32; MEMO_PATTERNS_MAX],
    len: u16,
    count: u8,
    text: [u8; MEMO_TEXT_MAX],
}

impl Default for Memo {
    fn default() -> Self {
        Memo {
            slots: Vec::new(),
            hasher: foldhash::fast::FixedState::with_seed(0x5167_6d61),
        }
    }
}

impl Memo {
    /// The key of (`automaton`, `text`): which slot it lives in, and its tag there.
    #[inline]
    fn hash(&self, automaton: usize, text: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one((automaton, text))
    }

    /// Asks the CPU to bring the slot of `hash` into cache (a hint: it changes nothing any
    /// lookup answers). Nothing to do before the slots exist.
    #[inline]
    fn prefetch(&self, hash: u64) {
        if let Some(slot) = self.slots.get((hash as usize) % MEMO_SLOTS) {
            crate::prefetch::prefetch(slot);
        }
    }

    /// The slot of `hash` (the slots are allocated at the first call).
    fn at(&mut self, hash: u64) -> &mut MemoSlot {
        if self.slots.is_empty() {
            let empty = MemoSlot {
                automaton: 0,
                hash: 0,
                len: 0,
                count: 0,
                text: [0; MEMO_TEXT_MAX],
                patterns: [0; MEMO_PATTERNS_MAX],
            };
            self.slots = vec![empty; MEMO_SLOTS];
        }
        &mut self.slots[(hash as usize) % MEMO_SLOTS]
    }
}

impl ScanState {
    /// The index in `plans` of the plan for these prefilters and `event`'s fields (made or
    /// remade when the slot holds other prefilters or other field names).
    fn plan(
        &mut self,
        pass: &[Option<&Prefilter>; PASS_MAX],
        ids: &[u64; PASS_MAX],
        event: &Event,
    ) -> usize {
        if self.plans.is_empty() {
            self.plans.resize_with(PLAN_SLOTS, PassPlan::default);
        }
        let key = ids.iter().fold(0u64, |h, &id| {
            h.rotate_left(13) ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        });
        let i = (key % PLAN_SLOTS as u64) as usize;
        let plan = &mut self.plans[i];
        let fields = event.fields();
        // The packed names, not the fields: the fields stride over their values, which made
        // this comparison one of the engine's main sources of cache misses.
        let same = plan.ids == *ids && plan.names == event.names();
        if !same {
            plan.ids = *ids;
            plan.names.clear();
            plan.names.extend_from_slice(event.names());
            plan.automata.clear();
            for (pos, f) in fields.iter().enumerate() {
                for (k, p) in pass.iter().flatten().enumerate() {
                    if let Some(a) = p.field_automaton(f.name) {
                        plan.automata.push((pos as u32, k as u32, a));
                    }
                }
            }
        }
        i
    }

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
    /// Builds the automata from `(item id, literal set)` pairs.
    pub fn build(sets: &[(u32, Vec<Literal>)]) -> Prefilter {
        Prefilter::build_shared(sets, &mut SharedAutomata::default())
    }

    /// [`Prefilter::build`], reusing the searchers of `shared` where another prefilter has the
    /// same literals, in whatever field (and adding its own there).
    pub fn build_shared(sets: &[(u32, Vec<Literal>)], shared: &mut SharedAutomata) -> Prefilter {
        type Patterns<'a> = (HashMap<&'a [u8], usize>, Vec<&'a [u8]>, Vec<Vec<u32>>);
        let mut groups: BTreeMap<Option<Symbol>, Patterns<'_>> = BTreeMap::new();
        for (item, set) in sets {
            for lit in set {
                let (index, patterns, items) = groups.entry(lit.field).or_default();
                let window = window(lit.text.as_bytes());
                let id = *index.entry(window).or_insert_with(|| {
                    patterns.push(window);
                    items.push(Vec::new());
                    patterns.len() - 1
                });
                if items[id].last() != Some(item) {
                    items[id].push(*item);
                }
            }
        }
        let mut offset = 0;
        let mut by_field = Vec::new();
        let mut any_field = None;
        for (field, (_, patterns, items)) in groups {
            let automaton = Automaton {
                search: shared.get(&patterns),
                min_len: patterns.iter().map(|p| p.len()).min().unwrap_or(1).max(1),
                items: PatternItems::new(items),
                offset,
            };
            offset += patterns.len();
            match field {
                Some(f) => by_field.push((f, automaton)),
                None => any_field = Some(automaton),
            }
        }
        Prefilter {
            by_field,
            any_field,
            patterns: offset,
            id: NEXT_PREFILTER_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Number of distinct (field, literal) pairs.
    pub fn literal_count(&self) -> usize {
        self.patterns
    }

    /// Number of automata (one per field with literals, plus one for keyword literals).
    pub fn automaton_count(&self) -> usize {
        self.by_field.len() + usize::from(self.any_field.is_some())
    }

    /// Heap memory of this prefilter's automata, in bytes (shared ones in full).
    pub fn memory_usage(&self) -> usize {
        self.shared_memory_usage(&mut std::collections::HashSet::new())
    }

    /// Heap memory of the automata not yet in `counted` (addresses of shared searchers), in
    /// bytes; adds them there. Over all prefilters of an engine: the automata's real size.
    pub fn shared_memory_usage(&self, counted: &mut std::collections::HashSet<usize>) -> usize {
        self.by_field
            .iter()
            .map(|(_, a)| a)
            .chain(&self.any_field)
            .filter(|a| counted.insert(Arc::as_ptr(&a.search) as usize))
            .map(|a| {
                a.search.ac.memory_usage()
                    + a.search.gate.as_ref().map_or(0, |g| g.memory_usage())
                    + a.search.grams.as_ref().map_or(0, GramGate::memory_usage)
            })
            .sum()
    }

    /// Marks every item with a literal occurring in the lowercased string form of a value of
    /// `event` (in the literal's field, or any field for keyword literals) and adds it to
    /// [`ScanState::candidates`] once.
    pub fn scan(&self, event: &Event, state: &mut ScanState) {
        Prefilter::scan_all(std::iter::once(self), event, state);
    }

    /// [`Prefilter::scan`] for several prefilters (an event's channel bucket and the logsource
    /// groups it satisfies) in one pass over the event's values: each value is visited and
    /// copied into the keyword text once, however many prefilters look at it.
    pub fn scan_all<'p>(
        prefilters: impl Iterator<Item = &'p Prefilter>,
        event: &Event,
        state: &mut ScanState,
    ) {
        let mut pass: [Option<&Prefilter>; PASS_MAX] = [None; PASS_MAX];
        let mut n = 0;
        for p in prefilters {
            if n == PASS_MAX {
                Prefilter::scan_pass(&pass, event, state);
                pass = [None; PASS_MAX];
                n = 0;
            }
            pass[n] = Some(p);
            n += 1;
        }
        if n > 0 {
            Prefilter::scan_pass(&pass, event, state);
        }
    }

    /// One pass of [`Prefilter::scan_all`] over up to [`PASS_MAX`] prefilters.
    fn scan_pass(pass: &[Option<&Prefilter>; PASS_MAX], event: &Event, state: &mut ScanState) {
        // Per prefilter: where its patterns start in the seen table.
        let mut bases = [0usize; PASS_MAX];
        let mut ids = [0u64; PASS_MAX];
        let mut patterns = 0;
        let mut keywords = false;
        for (k, p) in pass.iter().flatten().enumerate() {
            bases[k] = patterns;
            ids[k] = p.id;
            patterns += p.patterns;
            keywords |= p.any_field.is_some();
        }
        if patterns == 0 {
            return;
        }
        if state.seen.len() < patterns {
            state.seen.resize(patterns, 0);
        }
        state.scan = state.scan.wrapping_add(1);
        if state.scan == 0 {
            state.seen.iter_mut().for_each(|s| *s = 0);
            state.scan = 1;
        }
        let plan = state.plan(pass, &ids, event);
        let ScanState {
            marks,
            epoch,
            candidates,
            seen,
            scan,
            num_buf,
            joined,
            memo,
            plans,
        } = state;
        let mut hits = Hits {
            marks,
            epoch: *epoch,
            candidates,
            seen,
            scan: *scan,
            base: 0,
            memo,
        };
        let fields = event.fields();
        // The memo slots this event's string values will probe, requested all at once: their
        // cache misses overlap instead of each waiting for the one before. The keys are kept
        // for the lookups (a key of 0 is computed again).
        let automata = &plans[plan].automata;
        let mut keys = [0u64; PREFETCH_MAX];
        for (n, &(i, k, a)) in automata.iter().enumerate().take(PREFETCH_MAX) {
            let (Some(field), Some(p)) = (fields.get(i as usize), pass[k as usize]) else {
                continue;
            };
            if let Value::Str(t) = &field.value {
                let a = &p.by_field[a as usize].1;
                let text = t.lower();
                if (a.min_len..=MEMO_TEXT_MAX).contains(&text.len()) {
                    let key = hits.memo.hash(Arc::as_ptr(&a.search) as usize, text);
                    hits.memo.prefetch(key);
                    keys[n] = key;
                }
            }
        }
        for (n, &(i, k, a)) in automata.iter().enumerate() {
            let (Some(field), Some(p)) = (fields.get(i as usize), pass[k as usize]) else {
                continue;
            };
            let a = &p.by_field[a as usize].1;
            hits.base = bases[k as usize];
            match (&field.value, keys.get(n)) {
                (Value::Str(t), Some(&key)) if key != 0 => hits.scan_value(a, t.lower(), Some(key)),
                (value, _) => {
                    for_each_text(value, num_buf, &mut |text| hits.scan_value(a, text, None))
                }
            }
        }
        // Keyword literals may occur in any value: one pass over all values joined by a
        // newline costs far less than a pass per value. Every value that could hold a literal
        // is present intact, so no occurrence is lost; a literal spanning two values only adds
        // a candidate, which verification then rejects.
        if keywords {
            let started = crate::profile::ticks();
            // No keyword literal fits in a value shorter than the shortest of them: such
            // values (EventIDs, levels, flags) stay out of the text.
            let shortest = pass
                .iter()
                .flatten()
                .filter_map(|p| p.any_field.as_ref().map(|a| a.min_len))
                .min()
                .unwrap_or(1);
            joined.clear();
            let mut add = |text: &str| {
                if text.len() >= shortest {
                    joined.push_str(text);
                    joined.push('\n');
                }
            };
            for field in fields {
                match &field.value {
                    // Most values are strings: copy them without the generic walk.
                    Value::Str(t) => add(t.lower()),
                    other => for_each_text(other, num_buf, &mut add),
                }
            }
            for (k, p) in pass.iter().flatten().enumerate() {
                if let Some(a) = &p.any_field {
                    hits.base = bases[k];
                    hits.scan_text(a, joined, &mut None);
                }
            }
            crate::profile::scanned(0, 0, ScanKind::KeywordText, joined.len(), started);
        }
    }

    /// The automaton for `field`, if this prefilter has one.
    fn field_automaton(&self, field: Symbol) -> Option<u32> {
        self.by_field
            .binary_search_by_key(&field, |(f, _)| *f)
            .ok()
            .map(|i| i as u32)
    }
}

/// Prefilters one pass of [`Prefilter::scan_all`] serves (an event reaches one channel bucket
/// and a few logsource groups; more are served by further passes).
const PASS_MAX: usize = 8;

/// Field values per event whose memo slots are prefetched (and keys kept) before the scan.
const PREFETCH_MAX: usize = 64;

/// Slots of the per-thread table of [`PassPlan`]s (direct-mapped by the prefilters' ids).
const PLAN_SLOTS: usize = 256;

/// Which fields of an event the automata of one pass's prefilters look at, remembered for the
/// field names of the last event seen with those prefilters. Events of one kind list the same
/// fields in the same order, so after the first, comparing the names replaces a search per
/// field and prefilter, and only fields with an automaton are visited.
#[derive(Debug, Default)]
struct PassPlan {
    /// The prefilters' ids, in pass order (all 0: an empty slot).
    ids: [u64; PASS_MAX],
    /// The field names of the event the plan was made for, in order.
    names: Vec<Symbol>,
    /// (field position, prefilter's place in the pass, index in its `by_field`).
    automata: Vec<(u32, u32, u32)>,
}

/// Calls `f` with the lowercased string form of each scalar in `value` (list elements one by
/// one; null has none).
fn for_each_text(value: &Value, num_buf: &mut String, f: &mut impl FnMut(&str)) {
    match value {
        Value::List(items) => {
            for v in items {
                for_each_text(v, num_buf, f);
            }
        }
        Value::Str(t) => f(t.lower()),
        Value::Null => {}
        // `itoa` writes what `Display` writes (the form rules are compared with), without
        // going through the formatting machinery: EventIDs and process ids are scanned on
        // most events.
        Value::Int(i) => f(itoa::Buffer::new().format(*i)),
        // Floats and booleans are already lowercase ASCII.
        other => {
            if let Some(s) = other.scalar_str(num_buf) {
                f(s);
            }
        }
    }
}

/// The mutable parts of a [`ScanState`] a scan writes to.
struct Hits<'a> {
    marks: &'a mut Vec<u32>,
    epoch: u32,
    candidates: &'a mut Vec<u32>,
    seen: &'a mut Vec<u32>,
    scan: u32,
    /// Index in `seen` of the current prefilter's first pattern (several share one scan).
    base: usize,
    memo: &'a mut Memo,
}

impl Hits<'_> {
    /// Marks the items of every pattern of `a` occurring in the field value `text`,
    /// answering from the memo when this value was scanned by `a` recently. `hash` is the
    /// value's memo key when the caller already computed it.
    fn scan_value(&mut self, a: &Automaton, text: &str, hash: Option<u64>) {
        // Shorter than every literal: nothing to find, and nothing worth a memo slot.
        if text.len() < a.min_len {
            return;
        }
        if text.len() > MEMO_TEXT_MAX {
            self.scan_text(a, text, &mut None);
            return;
        }
        // Keyed by the shared searchers: pattern ids mean the same in every bucket using them.
        let id = Arc::as_ptr(&a.search) as usize;
        let hash = hash.unwrap_or_else(|| self.memo.hash(id, text));
        let started = crate::profile::ticks();
        let slot = self.memo.at(hash);
        if slot.automaton == id
            && slot.hash == hash
            && slot.text[..slot.len as usize] == *text.as_bytes()
        {
            let (count, patterns) = (slot.count as usize, slot.patterns);
            for &p in &patterns[..count] {
                self.mark(a, p as usize);
            }
            a.profile_scan(ScanKind::MemoHit, text, started);
            return;
        }
        let mut found = Some(Found::default());
        self.scan_text(a, text, &mut found);
        if let Some(found) = found {
            let slot = self.memo.at(hash);
            slot.automaton = id;
            slot.hash = hash;
            slot.len = text.len() as u16;
            slot.text[..text.len()].copy_from_slice(text.as_bytes());
            slot.count = found.count as u8;
            slot.patterns = found.patterns;
        }
    }

    /// Marks the items of every pattern of `a` occurring in `text`; records the patterns in
    /// `found` (which becomes `None` when there are too many to remember).
    fn scan_text(&mut self, a: &Automaton, text: &str, found: &mut Option<Found>) {
        if text.len() < a.min_len {
            return;
        }
        // Most values contain no literal at all: the plain search uses the automaton's
        // prefilter and skips ahead, where an overlapping search walks every byte.
        let started = crate::profile::ticks();
        // The gate's match is the leftmost: no literal starts before it, so the overlapping
        // walk starts there (a long value whose first literal comes late is walked from it).
        let from = match &a.search.gate {
            Some(g) => g.find(text).map(|m| m.start()),
            None => Some(0),
        };
        let Some(from) = from.filter(|_| {
            a.search
                .grams
                .as_ref()
                .is_none_or(|g| g.may_match(text.as_bytes()))
        }) else {
            a.profile_scan(ScanKind::Refused, text, started);
            return;
        };
        a.search.ac.for_each_match(&text.as_bytes()[from..], |p| {
            if let Some(f) = found {
                if f.count < MEMO_PATTERNS_MAX {
                    f.patterns[f.count] = p as u32;
                    f.count += 1;
                } else {
                    *found = None;
                }
            }
            self.mark(a, p);
        });
        a.profile_scan(ScanKind::Walked, text, started);
    }

    /// Marks the items listing pattern `p` of `a` (once per scan).
    #[inline]
    fn mark(&mut self, a: &Automaton, p: usize) {
        let k = self.base + a.offset + p;
        if self.seen[k] == self.scan {
            return;
        }
        self.seen[k] = self.scan;
        let (marks, candidates, epoch) = (&mut *self.marks, &mut *self.candidates, self.epoch);
        a.items.for_each(p, |item| {
            if marks[item as usize] != epoch {
                marks[item as usize] = epoch;
                candidates.push(item);
            }
        });
    }
}

/// Patterns a scan found, for the memo.
#[derive(Default)]
struct Found {
    count: usize,
    patterns: [u32; MEMO_PATTERNS_MAX],
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
            value_set: Default::default(),
        }
    }

    fn texts(set: Option<Vec<Literal>>) -> Option<Vec<String>> {
        set.map(|s| s.into_iter().map(|l| l.text).collect())
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
            texts(required_literals(&d)),
            Some(vec!["lsadump::".to_string(), "sekurlsa::".to_string()])
        );
        let d = det(
            vec![sel, filter],
            Condition::Or(vec![
                Condition::Search(0),
                Condition::Not(Box::new(Condition::Search(1))),
            ]),
        );
        assert_eq!(texts(required_literals(&d)), None);
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
        assert_eq!(texts(required_literals(&short)), None);
        let neq = det(
            vec![vec![vec![test(
                "A",
                vec![s(StrKind::Contains, "abcd")],
                false,
                true,
            )]]],
            Condition::Search(0),
        );
        assert_eq!(texts(required_literals(&neq)), None);
        let all = det(
            vec![vec![vec![test(
                "A",
                vec![s(StrKind::Contains, "-e"), s(StrKind::Contains, "invoke-")],
                true,
                false,
            )]]],
            Condition::Search(0),
        );
        assert_eq!(
            texts(required_literals(&all)),
            Some(vec!["invoke-".to_string()])
        );
    }

    #[test]
    fn a_rule_without_selective_literals_gets_short_ones() {
        let re = crate::matcher::SigmaRegex::new(
            r#"\\[a-zA-Z0-9]{1,32}\.[a-zA-Z0-9]{1,6}\.[ "']{1}"#,
            false,
            false,
            false,
        )
        .unwrap();
        let d = det(
            vec![vec![vec![test(
                "CommandLine",
                vec![Matcher::Regex(re)],
                false,
                false,
            )]]],
            Condition::Search(0),
        );
        assert_eq!(texts(required_literals(&d)), None);
        let sets = required_literal_sets(&d);
        assert_eq!(sets.len(), 1);
        let mut got: Vec<&str> = sets[0].iter().map(|l| l.text.as_str()).collect();
        got.sort_unstable();
        assert_eq!(got, vec![". ", ".\"", ".'"]);
        // Negation alone still has no set.
        let neg = det(
            vec![vec![vec![test(
                "Image",
                vec![s(StrKind::Contains, "\\")],
                false,
                false,
            )]]],
            Condition::Not(Box::new(Condition::Search(0))),
        );
        assert!(required_literal_sets(&neg).is_empty());
    }

    #[test]
    fn regex_prefixes_are_required_literals() {
        let l = regex_literals(r"ipconfig\s+/all", Relax::No).unwrap();
        assert!(l.len() == 1 && l[0].starts_with("ipcon"), "{l:?}");
        // `\s` is expanded (25 Unicode spaces): `.exe` followed by a space or a quote.
        let l = regex_literals(r#"(?i)\.exe["']?\s+x"#, Relax::No).unwrap();
        assert!(l.contains(&".exe ".to_string()) && l.contains(&".exe\" ".to_string()));
        assert!(
            l.iter().all(|x| x.starts_with(".exe") && x.len() > 4),
            "{l:?}"
        );
        // Literals of a tail of the concatenation are required too, and the best set wins.
        assert_eq!(
            regex_literals(r"\s+net", Relax::No),
            Some(vec!["net".to_string()])
        );
        let l = regex_literals(
            r#"(?i)\.exe["']?\s+[^"]{0,64}werfaultsecure\.exe["']?\s+\d{2,10}"#,
            Relax::No,
        );
        assert!(
            l.as_ref()
                // Case folding brings in `ſ` (it folds to `s`), and the variant limit trims the
                // front: still a necessary set, far rarer than `.exe`.
                .is_some_and(|l| l.iter().all(|x| x.ends_with("ecure.exe") && x.len() > 9)),
            "{l:?}"
        );
        assert_eq!(regex_literals(r"\s+\d+", Relax::No), None);
        // `\s` and hex digits are expanded: a longer, rarer prefix than `net` or `0x` (`ſ`
        // folds to `s`: 25 spaces after `user` and after `uſer`).
        let l = regex_literals(r"net\s+user\s+", Relax::No).unwrap();
        assert!(l.contains(&"user ".to_string()) && l.len() <= 50, "{l:?}");
        let l = regex_literals(r"0x[a-fA-F0-9]{8}", Relax::No).unwrap();
        // Two hex digits (16 × 16) before the 256-literal cap.
        assert_eq!(l.len(), 256);
        assert!(
            l.iter().all(|x| x.len() == 4 && x.starts_with("0x")),
            "{l:?}"
        );
        assert_eq!(regex_literals(r"a|bcd", Relax::No), None);
        assert!(selective("^^") && !selective("-e") && selective("abc"));
    }

    /// Every (end, pattern) occurrence an overlapping aho-corasick search reports, sorted.
    fn overlapping(patterns: &[&[u8]], text: &[u8]) -> Vec<(usize, usize)> {
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(patterns)
            .unwrap();
        let mut out: Vec<(usize, usize)> = ac
            .find_overlapping_iter(text)
            .map(|m| (m.end(), m.pattern().as_usize()))
            .collect();
        out.sort_unstable();
        out
    }

    /// What each walker reports for `text`: (end, pattern) pairs where the walker tells the
    /// end, else patterns alone (end 0); sorted.
    fn walked(walker: &Walker, text: &[u8], with_end: bool) -> Vec<(usize, usize)> {
        let mut got: Vec<(usize, usize)> = match walker {
            Walker::DoubleArray(a) if with_end => a
                .find_overlapping_iter(text)
                .map(|m| (m.end(), m.value() as usize))
                .collect(),
            _ => {
                let mut got = Vec::new();
                walker.for_each_match(text, |p| got.push((0, p)));
                got
            }
        };
        got.sort_unstable();
        got
    }

    fn without_ends(mut v: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
        v.iter_mut().for_each(|(end, _)| *end = 0);
        v.sort_unstable();
        v
    }

    #[test]
    fn walker_reports_what_an_overlapping_search_reports() {
        // Overlapping literals, shared prefixes and suffixes, a literal inside another.
        let patterns: Vec<Vec<u8>> = ["he", "she", "his", "hers", "e", "ers", "s", "ishe"]
            .iter()
            .map(|p| p.as_bytes().to_vec())
            .collect();
        // A large set (as the `CommandLine` one is), with the small one inside.
        let many: Vec<Vec<u8>> = (0..120)
            .map(|i| format!("x{i}y").into_bytes())
            .chain(patterns.iter().cloned())
            .collect();
        let texts = [
            "ushers",
            "",
            "s",
            "hishershe",
            "x1yx12yx101y ishers",
            "xx9yy",
            "she sells",
            "hhhhe",
        ];
        for set in [&patterns, &many] {
            let refs: Vec<&[u8]> = set.iter().map(Vec::as_slice).collect();
            let walker = Walker::build(&refs);
            assert!(matches!(walker, Walker::DoubleArray(_)), "{walker:?}");
            let nfa = Walker::Noncontiguous(
                aho_corasick::nfa::noncontiguous::Builder::new()
                    .match_kind(MatchKind::Standard)
                    .build(&refs)
                    .unwrap(),
            );
            let contiguous = Walker::Contiguous(
                aho_corasick::nfa::contiguous::Builder::new()
                    .match_kind(MatchKind::Standard)
                    .build(&refs)
                    .unwrap(),
            );
            for text in texts {
                let expected = overlapping(&refs, text.as_bytes());
                assert_eq!(
                    walked(&walker, text.as_bytes(), true),
                    expected,
                    "{text:?} over {} literals",
                    refs.len()
                );
                let patterns_only = without_ends(expected);
                assert_eq!(walked(&walker, text.as_bytes(), false), patterns_only);
                assert_eq!(walked(&nfa, text.as_bytes(), false), patterns_only);
                assert_eq!(walked(&contiguous, text.as_bytes(), false), patterns_only);
            }
        }
    }

    /// A xorshift generator: `next(n)` is a number below `n` (the random tests' data).
    fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        }
    }

    #[test]
    fn walker_matches_overlapping_search_on_random_sets() {
        // A small alphabet makes literals overlap, nest and share prefixes and suffixes often.
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let mut occurrences = 0;
        for round in 0..200 {
            let count = if round % 10 == 0 {
                300
            } else {
                1 + next(40) as usize
            };
            let mut set: Vec<Vec<u8>> = (0..count)
                .map(|_| {
                    (0..1 + next(6))
                        .map(|_| b"abcd\\n"[next(6) as usize])
                        .collect()
                })
                .collect();
            set.sort();
            set.dedup();
            let refs: Vec<&[u8]> = set.iter().map(Vec::as_slice).collect();
            let walker = Walker::build(&refs);
            for _ in 0..20 {
                let text: Vec<u8> = (0..next(80))
                    .map(|_| b"abcd\\n"[next(6) as usize])
                    .collect();
                let expected = overlapping(&refs, &text);
                occurrences += expected.len();
                assert_eq!(
                    walked(&walker, &text, true),
                    expected,
                    "{set:?} in {text:?}"
                );
                assert_eq!(walked(&walker, &text, false), without_ends(expected));
            }
        }
        // The sets did overlap: far more occurrences than texts.
        assert!(occurrences > 4_000 * 10, "{occurrences}");
    }

    /// The 8-byte-piece gate never turns away a value holding one of its literals, and turns
    /// away most values holding none.
    #[test]
    fn gram_gate_passes_every_value_holding_a_literal() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let hex = |next: &mut dyn FnMut(u64) -> u64, len: u64| -> Vec<u8> {
            (0..len)
                .map(|_| b"0123456789abcdef"[next(16) as usize])
                .collect()
        };
        assert!(GramGate::build(&[b"short".as_slice(), b"0123456789abcdef"]).is_none());
        let (mut passed_without, mut without, mut with) = (0, 0, 0);
        for round in 0..40 {
            let count = if round % 8 == 0 { 5_000 } else { 1 + next(500) };
            let set: Vec<Vec<u8>> = (0..count)
                .map(|_| {
                    let len = 12 + next(20);
                    hex(&mut next, len)
                })
                .collect();
            let refs: Vec<&[u8]> = set.iter().map(Vec::as_slice).collect();
            let gate = GramGate::build(&refs).expect("all literals are long");
            let lookup: std::collections::HashSet<&[u8]> = refs.iter().copied().collect();
            for _ in 0..200 {
                // `SHA1=…,MD5=…` shaped text, sometimes with a literal planted at any offset.
                let mut text = b"sha1=".to_vec();
                let len = next(200);
                text.extend(hex(&mut next, len));
                if next(2) == 0 {
                    let lit = &set[next(set.len() as u64) as usize];
                    let at = next(text.len() as u64 + 1) as usize;
                    text.splice(at..at, lit.iter().copied());
                }
                let holds = (12..32).any(|n| text.windows(n).any(|w| lookup.contains(w)));
                let passes = gate.may_match(&text);
                assert!(passes || !holds, "{text:?} holds a literal");
                with += usize::from(holds);
                if !holds {
                    without += 1;
                    passed_without += usize::from(passes);
                }
            }
        }
        assert!(with > 1_000, "{with}");
        assert!(
            without > 1_000 && passed_without * 20 < without,
            "{passed_without} / {without}"
        );
    }

    #[test]
    fn pattern_items_list_what_they_were_given() {
        let given = vec![
            vec![3],
            vec![],
            vec![1, 2],
            vec![PatternItems::LIST],
            vec![7],
            vec![0, 5, 9],
        ];
        let packed = PatternItems::new(given.clone());
        for (p, ids) in given.iter().enumerate() {
            let mut got = Vec::new();
            packed.for_each(p, |item| got.push(item));
            assert_eq!(&got, ids, "pattern {p}");
        }
        // One-item literals take no room in the lists.
        assert_eq!(packed.lists.len(), 1 + (1 + 2) + (1 + 1) + (1 + 3));
    }

    #[test]
    fn scan_marks_items_by_literal_in_its_field() {
        let lit = |text: &str, field: Option<&str>| Literal {
            text: text.into(),
            field: field.map(Symbol::intern),
        };
        let p = Prefilter::build(&[
            (0, vec![lit("mimikatz", Some("CommandLine"))]),
            (1, vec![lit("mimikatz", Some("Image"))]),
            (2, vec![lit("4688", None)]),
        ]);
        let mut e = Event::default();
        e.insert("CommandLine", Value::str("C:\\x\\MimiKatz.exe mimikatz"));
        let mut st = ScanState::default();
        st.next_event(3);
        p.scan(&e, &mut st);
        assert!(st.marked(0) && !st.marked(1) && !st.marked(2));
        assert_eq!(st.candidates(), &[0]);
        e.insert("EventID", Value::Int(4688));
        st.next_event(3);
        p.scan(&e, &mut st);
        assert!(st.marked(0) && !st.marked(1) && st.marked(2));
        assert_eq!(p.automaton_count(), 3);
    }

    #[test]
    fn a_gated_walk_from_the_leftmost_literal_still_finds_every_literal() {
        // A set small enough for a gate: the walk starts where the gate's (leftmost) match
        // starts, and must still report the literals overlapping it, inside it and after it.
        let texts = ["abcd", "bc", "cdef", "zz", "xab"];
        let p = Prefilter::build(
            &texts
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    (
                        i as u32,
                        vec![Literal {
                            text: (*t).into(),
                            field: Some(Symbol::intern("CommandLine")),
                        }],
                    )
                })
                .collect::<Vec<_>>(),
        );
        let mut st = ScanState::default();
        for (value, expected) in [
            ("----abcdefzz", vec![true, true, true, true, false]),
            ("-xabcd", vec![true, true, false, false, true]),
            (
                "------------------------------------------------bc",
                vec![false, true, false, false, false],
            ),
            ("nothing here", vec![false; 5]),
        ] {
            let mut e = Event::default();
            e.insert("CommandLine", Value::str(value));
            st.next_event(texts.len());
            p.scan(&e, &mut st);
            let marked: Vec<bool> = (0..texts.len() as u32).map(|i| st.marked(i)).collect();
            assert_eq!(marked, expected, "{value}");
        }
    }

    #[test]
    fn values_shorter_than_every_literal_take_no_memo_slot_and_keys_are_reused() {
        let lit = |text: &str, field: &str| Literal {
            text: text.into(),
            field: Some(Symbol::intern(field)),
        };
        let p = Prefilter::build(&[
            (0, vec![lit("mimikatz", "CommandLine")]),
            (1, vec![lit("whoami", "User")]),
        ]);
        let held = |st: &ScanState, text: &str| {
            st.memo
                .slots
                .iter()
                .any(|s| s.automaton != 0 && s.text[..s.len as usize] == *text.as_bytes())
        };
        let mut st = ScanState::default();
        // The first event allocates the memo (no prefetch yet); the second is scanned with
        // the keys its prefetch computed. Both find the same.
        for _ in 0..2 {
            let mut e = Event::default();
            e.insert("CommandLine", Value::str("x.exe mimikatz"));
            e.insert("User", Value::str("bob"));
            st.next_event(2);
            p.scan(&e, &mut st);
            assert!(st.marked(0) && !st.marked(1));
            // `bob` is shorter than `whoami`: only the command line holds a slot.
            assert!(held(&st, "x.exe mimikatz") && !held(&st, "bob"));
        }
        let mut e = Event::default();
        e.insert("User", Value::str("corp\\whoami"));
        st.next_event(2);
        p.scan(&e, &mut st);
        assert!(!st.marked(0) && st.marked(1));
        assert!(held(&st, "corp\\whoami"));
    }

    #[test]
    fn keyword_literals_are_found_in_values_of_their_length_and_longer() {
        let kw = |text: &str| Literal {
            text: text.into(),
            field: None,
        };
        let p = Prefilter::build(&[(0, vec![kw("sekurlsa::")]), (1, vec![kw("kiwi")])]);
        let mut st = ScanState::default();
        let scan = |values: &[&str], st: &mut ScanState| {
            let mut e = Event::default();
            for (i, v) in values.iter().enumerate() {
                e.insert(&format!("F{i}"), Value::str(*v));
            }
            e.insert("EventID", Value::Int(4104));
            st.next_event(2);
            p.scan(&e, st);
            (st.marked(0), st.marked(1))
        };
        // A value exactly as long as the shortest literal, and one within a longer value.
        assert_eq!(scan(&["1", "KIWI", "x"], &mut st), (false, true));
        assert_eq!(
            scan(&["run sekurlsa::logonpasswords", "ab"], &mut st),
            (true, false)
        );
        // Short values around a long one do not hide it, nor make a literal of their own.
        assert_eq!(scan(&["ki", "wi", "xsekurlsa::y"], &mut st), (true, false));
    }

    #[test]
    fn equal_literals_share_searchers_and_memo_results() {
        let lit = |text: &str, field: &str| Literal {
            text: text.into(),
            field: Some(Symbol::intern(field)),
        };
        let mut shared = SharedAutomata::default();
        let a = Prefilter::build_shared(&[(0, vec![lit("mimikatz", "CommandLine")])], &mut shared);
        // Same literal, other items: one searcher, each prefilter its own items.
        let b = Prefilter::build_shared(&[(5, vec![lit("mimikatz", "CommandLine")])], &mut shared);
        // And in another field: what a searcher finds does not depend on the field.
        let c = Prefilter::build_shared(&[(1, vec![lit("mimikatz", "Image")])], &mut shared);
        let d = Prefilter::build_shared(&[(2, vec![lit("mimikatz.", "Image")])], &mut shared);
        assert!(Arc::ptr_eq(
            &a.by_field[0].1.search,
            &b.by_field[0].1.search
        ));
        assert!(Arc::ptr_eq(
            &a.by_field[0].1.search,
            &c.by_field[0].1.search
        ));
        assert!(!Arc::ptr_eq(
            &a.by_field[0].1.search,
            &d.by_field[0].1.search
        ));
        let mut counted = std::collections::HashSet::new();
        let total = a.shared_memory_usage(&mut counted) + b.shared_memory_usage(&mut counted);
        assert_eq!(total, a.memory_usage());

        let mut e = Event::default();
        e.insert("CommandLine", Value::str("x MIMIKATZ y"));
        let mut st = ScanState::default();
        st.next_event(6);
        a.scan(&e, &mut st);
        assert_eq!(st.candidates(), &[0]);
        // The second scan of the same value is answered from the memo, with b's items.
        st.next_event(6);
        b.scan(&e, &mut st);
        assert_eq!(st.candidates(), &[5]);
        // The same text in `Image`, for c: the same searcher, so the same memo entry.
        let mut e = Event::default();
        e.insert("Image", Value::str("x MIMIKATZ y"));
        st.next_event(6);
        c.scan(&e, &mut st);
        assert_eq!(st.candidates(), &[1]);
    }
}
