//! CSV feeds read through a column mapping, with presets for abuse.ch's exports (recognised
//! by their header, which abuse.ch writes as the last `#` comment line before the rows, or as
//! a plain first row):
//!
//! - Feodo Tracker botnet C2 IP blocklist: `"first_seen_utc","dst_ip","dst_port","c2_status",
//!   "last_online","malware"` (uncommented header, checked against the 2024-04-04 download in
//!   the corpus);
//! - URLhaus: `# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter`;
//! - ThreatFox: `# "first_seen_utc","ioc_id","ioc_value","ioc_type","threat_type",
//!   "fk_malware","malware_alias","malware_printable","last_seen_utc","confidence_level",…`,
//!   whose rows put a space after each comma (`"a", "b"`): the `csv` crate reads a space
//!   before a quote as part of an unquoted field, so those spaces are removed first.
//!
//! Each row is one indicator; a row that lacks a mapped column, has a value that is not of
//! its kind, or an unreadable time or confidence is a rejection naming its line.

use std::borrow::Cow;

use super::{Ctx, parse_time};
use crate::normalise::{guess, strip_port};
use crate::set::{LineBatch, Location};
use crate::{IndicatorKind, NewIndicator, Source};

/// A known CSV export, or a mapping given by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvPreset {
    FeodoTracker,
    UrlHaus,
    ThreatFox,
    Custom,
}

impl CsvPreset {
    /// The preset's name (`abuse.ch feodo tracker`).
    pub fn name(self) -> &'static str {
        match self {
            CsvPreset::FeodoTracker => "abuse.ch feodo tracker",
            CsvPreset::UrlHaus => "abuse.ch urlhaus",
            CsvPreset::ThreatFox => "abuse.ch threatfox",
            CsvPreset::Custom => "custom mapping",
        }
    }
}

/// Where a row's indicator kind comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CsvKind {
    /// Every row is of this kind.
    Fixed(IndicatorKind),
    /// A column names it (ThreatFox `ioc_type`: `ip:port`, `domain`, `url`, `md5_hash`, …,
    /// or a kind name).
    Column(String),
    /// Told from the value itself (URL, IP, hash length, e-mail, domain).
    Guess,
}

/// Which columns (by header name) hold what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvMapping {
    pub preset: CsvPreset,
    /// The indicator value.
    pub value: String,
    pub kind: CsvKind,
    /// The row's id in the feed.
    pub id: Option<String>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// 0–100.
    pub confidence: Option<String>,
    /// Columns whose text (comma-separated lists split) become labels.
    pub labels: Vec<String>,
}

impl CsvMapping {
    /// A mapping of the value column only, its kind guessed per row.
    pub fn new(value: impl Into<String>) -> Self {
        CsvMapping {
            preset: CsvPreset::Custom,
            value: value.into(),
            kind: CsvKind::Guess,
            id: None,
            first_seen: None,
            last_seen: None,
            confidence: None,
            labels: Vec::new(),
        }
    }

    /// abuse.ch Feodo Tracker (IP blocklist CSV).
    pub fn feodo_tracker() -> Self {
        CsvMapping {
            preset: CsvPreset::FeodoTracker,
            kind: CsvKind::Guess,
            first_seen: Some("first_seen_utc".into()),
            last_seen: Some("last_online".into()),
            labels: vec!["malware".into()],
            ..CsvMapping::new("dst_ip")
        }
    }

    /// abuse.ch URLhaus (CSV dump).
    pub fn urlhaus() -> Self {
        CsvMapping {
            preset: CsvPreset::UrlHaus,
            kind: CsvKind::Fixed(IndicatorKind::Url),
            id: Some("id".into()),
            first_seen: Some("dateadded".into()),
            last_seen: Some("last_online".into()),
            labels: vec!["threat".into(), "tags".into()],
            ..CsvMapping::new("url")
        }
    }

    /// abuse.ch ThreatFox (CSV export).
    pub fn threatfox() -> Self {
        CsvMapping {
            preset: CsvPreset::ThreatFox,
            kind: CsvKind::Column("ioc_type".into()),
            id: Some("ioc_id".into()),
            first_seen: Some("first_seen_utc".into()),
            last_seen: Some("last_seen_utc".into()),
            confidence: Some("confidence_level".into()),
            labels: vec![
                "threat_type".into(),
                "malware_printable".into(),
                "tags".into(),
            ],
            ..CsvMapping::new("ioc_value")
        }
    }

    /// The preset whose columns `header` has.
    fn preset_for(header: &[String]) -> Option<CsvMapping> {
        let has = |c: &str| header.iter().any(|h| h == c);
        if has("dst_ip") && has("c2_status") {
            Some(CsvMapping::feodo_tracker())
        } else if has("url") && has("url_status") && has("urlhaus_link") {
            Some(CsvMapping::urlhaus())
        } else if has("ioc_value") && has("ioc_type") {
            Some(CsvMapping::threatfox())
        } else {
            None
        }
    }

    fn columns(&self) -> impl Iterator<Item = &String> {
        let kind = match &self.kind {
            CsvKind::Column(c) => Some(c),
            _ => None,
        };
        std::iter::once(&self.value)
            .chain(kind)
            .chain(&self.id)
            .chain(&self.first_seen)
            .chain(&self.last_seen)
            .chain(&self.confidence)
            .chain(&self.labels)
    }
}

pub(super) enum Detected {
    /// CSV, read with this mapping; the header is on `header_line` (1-based) when the header
    /// is a row rather than a comment.
    Csv(Box<(CsvMapping, Vec<String>, Option<u64>)>),
    /// CSV (a header and comma-separated rows) whose columns no preset knows.
    UnknownColumns(Vec<String>),
    NotCsv,
}

/// Finds the header (the last comment line before the rows, or the first row) and the
/// mapping for it.
pub(super) fn detect(text: &str, given: Option<&CsvMapping>) -> Detected {
    let mut comment_header: Option<&str> = None;
    let mut first_row: Option<(u64, &str)> = None;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(c) = t.strip_prefix('#') {
            comment_header = Some(c.trim());
            continue;
        }
        first_row = Some((n as u64 + 1, t));
        break;
    }
    let Some((row_line, row)) = first_row else {
        return Detected::NotCsv;
    };
    let comment_cols = comment_header.filter(|c| c.contains(',')).map(split_header);
    let row_cols = split_header(row);
    let knows = |cols: &[String]| -> Option<CsvMapping> {
        match given {
            Some(m) => m.columns().all(|c| cols.contains(c)).then(|| m.clone()),
            None => CsvMapping::preset_for(cols),
        }
    };
    if let Some(m) = knows(&row_cols) {
        return Detected::Csv(Box::new((m, row_cols, Some(row_line))));
    }
    if let Some(cols) = comment_cols.as_ref()
        && let Some(m) = knows(cols)
    {
        return Detected::Csv(Box::new((m, cols.clone(), None)));
    }
    if row_cols.len() >= 2 || given.is_some() {
        let cols = match (given, comment_cols) {
            (None, Some(c)) => c,
            _ => row_cols,
        };
        return Detected::UnknownColumns(cols);
    }
    Detected::NotCsv
}

fn split_header(line: &str) -> Vec<String> {
    let fixed = tighten(line);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(fixed.as_bytes());
    rdr.records()
        .next()
        .and_then(Result::ok)
        .map(|r| r.iter().map(|f| f.trim_matches('"').to_string()).collect())
        .unwrap_or_default()
}

/// Removes spaces between a separator and an opening quote outside quoted fields
/// (ThreatFox's `"a", "b"`), keeping line breaks so record positions stay true.
fn tighten(text: &str) -> Cow<'_, str> {
    if !text.contains(", \"") {
        return Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut in_quotes = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        out.push(c);
        i += 1;
        match c {
            b'"' => in_quotes = !in_quotes,
            b'\n' => in_quotes = false,
            b',' if !in_quotes => {
                let mut j = i;
                while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                    j += 1;
                }
                if j < b.len() && b[j] == b'"' {
                    i = j;
                }
            }
            _ => {}
        }
    }
    // Only ASCII spaces were removed, so the bytes are still UTF-8.
    Cow::Owned(String::from_utf8(out).expect("UTF-8 in, UTF-8 out"))
}

pub(super) fn import(
    ctx: &mut Ctx<'_>,
    text: &str,
    found: &(CsvMapping, Vec<String>, Option<u64>),
) {
    let (mapping, header, header_line) = found;
    let col = |name: &String| header.iter().position(|h| h == name);
    let value_col = col(&mapping.value).expect("detect checked the columns");
    let kind_col = match &mapping.kind {
        CsvKind::Column(c) => col(c),
        _ => None,
    };
    let opt = |c: &Option<String>| c.as_ref().and_then(col);
    let (id_col, first_col, last_col, conf_col) = (
        opt(&mapping.id),
        opt(&mapping.first_seen),
        opt(&mapping.last_seen),
        opt(&mapping.confidence),
    );
    let label_cols: Vec<usize> = mapping.labels.iter().filter_map(col).collect();
    let fixed_kind = match &mapping.kind {
        CsvKind::Fixed(k) => Some(*k),
        _ => None,
    };
    let needed = header.len();

    // Comment lines are blanked rather than left to the reader's comment option, and lines
    // are counted from byte offsets: the reader's own line numbers leave out comments and
    // blank lines, and rejections must name the file's real line.
    let blanked: String;
    let text = if text.lines().any(|l| l.trim_start().starts_with('#')) {
        blanked = text
            .split_inclusive('\n')
            .map(|l| {
                if l.trim_start().starts_with('#') {
                    "\n"
                } else {
                    l
                }
            })
            .collect();
        &blanked
    } else {
        text
    };
    let fixed = tighten(text);
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(fixed.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    // A record's position is where the reader started looking for it, before the blank
    // lines it skipped: its line is the first non-blank one from there.
    let line_of = |pos: &csv::Position| -> u64 {
        let mut i = line_starts.partition_point(|&s| s <= pos.byte() as usize) - 1;
        while i + 1 < line_starts.len()
            && fixed[line_starts[i]..line_starts[i + 1]].trim().is_empty()
        {
            i += 1;
        }
        i as u64 + 1
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(fixed.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut batch = LineBatch::default();
    loop {
        let line = line_of(rdr.position());
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                ctx.report.read += 1;
                let line = e.position().map_or(line, line_of);
                batch.flush(ctx.set, &mut ctx.report);
                ctx.report
                    .reject(Location::Line(line), format!("unreadable CSV row: {e}"));
                continue;
            }
        }
        let line = record.position().map_or(line, line_of);
        if Some(line) == *header_line || record.iter().all(str::is_empty) {
            continue;
        }
        ctx.report.read += 1;
        let cols = Columns {
            needed,
            value: value_col,
            kind: kind_col,
            fixed_kind,
            id: id_col,
            first_seen: first_col,
            last_seen: last_col,
            confidence: conf_col,
            labels: &label_cols,
        };
        match row(ctx, &record, &cols) {
            Ok(new) => batch.push(ctx.set, &mut ctx.report, line, new),
            Err(reason) => {
                batch.flush(ctx.set, &mut ctx.report);
                ctx.report.reject(Location::Line(line), reason);
            }
        }
    }
    batch.flush(ctx.set, &mut ctx.report);
}

/// Column positions of the mapping in force.
struct Columns<'a> {
    needed: usize,
    value: usize,
    kind: Option<usize>,
    fixed_kind: Option<IndicatorKind>,
    id: Option<usize>,
    first_seen: Option<usize>,
    last_seen: Option<usize>,
    confidence: Option<usize>,
    labels: &'a [usize],
}

fn row(
    ctx: &Ctx<'_>,
    record: &csv::StringRecord,
    cols: &Columns<'_>,
) -> Result<NewIndicator, String> {
    let needed = cols.needed;
    if record.len() < needed {
        return Err(format!(
            "row has {} fields, the header {needed}",
            record.len()
        ));
    }
    let cell = |c: usize| -> &str {
        let s = record.get(c).unwrap_or_default().trim().trim_matches('"');
        if s.eq_ignore_ascii_case("none") {
            ""
        } else {
            s
        }
    };
    let raw = cell(cols.value);
    let (kind, value) = match cols.kind {
        Some(k) => {
            let name = cell(k);
            let kind = kind_from_feed(name, raw)
                .ok_or_else(|| format!("type `{name}` has no indicator kind"))?;
            let value = match kind {
                IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => strip_port(raw).to_string(),
                _ => raw.to_string(),
            };
            (kind, value)
        }
        None => match cols.fixed_kind {
            Some(kind) => (kind, raw.to_string()),
            None => guess(raw).map_err(|e| e.to_string())?,
        },
    };
    let time = |c: Option<usize>| c.map_or(Ok(None), |c| parse_time(cell(c)));
    let first_seen = time(cols.first_seen)?;
    let last_seen = time(cols.last_seen)?;
    let confidence = match cols.confidence.map(cell).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<u8>()
                .ok()
                .filter(|c| *c <= 100)
                .ok_or_else(|| format!("confidence `{s}` is not 0–100"))?,
        ),
    };
    let mut labels = Vec::new();
    for c in cols.labels {
        labels.extend(
            cell(*c)
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.eq_ignore_ascii_case("none"))
                .map(str::to_string),
        );
    }
    let external_id = cols.id.map(cell).filter(|s| !s.is_empty()).map(Into::into);
    let new = NewIndicator {
        confidence,
        labels,
        ..NewIndicator::new(
            kind,
            value,
            Source {
                feed: ctx.feed.clone(),
                external_id,
                first_seen,
                last_seen,
            },
        )
    };
    Ok(new)
}

/// An indicator kind named by a feed's type column (ThreatFox names, MISP-like names, or
/// ours); an IP type picks v4 or v6 from the value.
fn kind_from_feed(name: &str, value: &str) -> Option<IndicatorKind> {
    use IndicatorKind as K;
    let n = name.trim().to_ascii_lowercase();
    Some(match n.as_str() {
        "ip:port" | "ip" | "ip-dst" | "ip-src" | "ipv4" | "ipv6" | "ip_address" => {
            if strip_port(value).contains(':') {
                K::Ipv6
            } else {
                K::Ipv4
            }
        }
        "domain" | "hostname" | "domain-name" => K::Domain,
        "url" => K::Url,
        "md5_hash" | "md5" => K::Md5,
        "sha1_hash" | "sha1" => K::Sha1,
        "sha256_hash" | "sha256" => K::Sha256,
        "sha512_hash" | "sha512" => K::Sha512,
        "email" | "email-addr" => K::Email,
        "ja3" | "ja3_fingerprint" => K::Ja3,
        _ => return IndicatorKind::from_name(&n),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tighten_removes_spaces_before_quotes_only_between_fields() {
        assert_eq!(tighten(r#""a", "b, c", "d""#), r#""a","b, c","d""#);
        assert_eq!(tighten(r#""a, "x""#), r#""a, "x""#);
    }

    /// Rows go into the set in batches (`LineBatch`): rejections found when adding (an
    /// invalid value) and those found reading a row (a bad confidence) stay in line order,
    /// and repeated values merge as one by one.
    #[test]
    fn batched_rows_keep_rejections_in_line_order() {
        let mut mapping = CsvMapping::new("value");
        mapping.kind = CsvKind::Column("type".into());
        mapping.confidence = Some("confidence".into());
        let opts = crate::ImportOptions {
            csv: Some(mapping),
            ..Default::default()
        };
        let text = "value,type,confidence\n\
                    192.0.2.1,ip,50\n\
                    not-an-ip,ip,50\n\
                    a.example,domain,500\n\
                    http://a.example/x,url,10\n\
                    999.1.1.1,ip,50\n\
                    192.0.2.1,ip,70\n";
        let mut set = crate::IntelSet::new();
        let report = set.import_bytes("f.csv", text.as_bytes(), &opts);
        let lines: Vec<_> = report.rejected.iter().map(|r| &r.location).collect();
        assert_eq!(
            lines,
            [Location::Line(3), Location::Line(4), Location::Line(6)]
                .iter()
                .collect::<Vec<_>>()
        );
        assert!(report.rejected[0].reason.starts_with("ipv4: "));
        assert!(report.rejected[1].reason.contains("confidence"));
        assert_eq!((report.read, report.added, report.merged), (6, 2, 1));
        let ip = set.get(IndicatorKind::Ipv4, "192.0.2.1").unwrap();
        assert_eq!(ip.confidence(), Some(70));
    }

    #[test]
    fn presets_by_header() {
        let feodo = "# c\n\"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"\n\"2024-01-01 00:00:00\",\"1.2.3.4\",\"443\",\"online\",\"2024-01-02\",\"X\"\n";
        let Detected::Csv(found) = detect(feodo, None) else {
            panic!("csv")
        };
        assert_eq!(found.0.preset, CsvPreset::FeodoTracker);
        assert_eq!(found.2, Some(2));
        let tf = "#\n# \"first_seen_utc\",\"ioc_id\",\"ioc_value\",\"ioc_type\"\n\"2024-01-01 00:00:00\", \"1\", \"a.example\", \"domain\"\n";
        let Detected::Csv(found) = detect(tf, None) else {
            panic!("csv")
        };
        assert_eq!(found.0.preset, CsvPreset::ThreatFox);
        assert_eq!(found.2, None);
        assert!(
            matches!(detect("a,b,c\n1,2,3\n", None), Detected::UnknownColumns(c) if c == ["a", "b", "c"])
        );
        assert!(matches!(
            detect("# Aliases: a, b\nevil.example\n", None),
            Detected::NotCsv
        ));
    }
}
