//! Plain lists, one indicator per line (Maltrail trails, IP blocklists such as the ThreatFox
//! IP list): `#` comments and blank lines skipped, each line's kind told from its value (URL,
//! IP or CIDR with an optional port, hash by length, e-mail, domain). A line that is none of
//! these (a Maltrail URL path without host, text with spaces) is a rejection naming its line.
//!
//! Maltrail files (recognised by their copyright line) label every indicator with the
//! family, from the file name, and the `# Aliases:` names.

use super::Ctx;
use crate::normalise::guess;
use crate::set::{LineBatch, Location};
use crate::{NewIndicator, Source};

pub(super) fn import(ctx: &mut Ctx<'_>, text: &str) {
    let mut labels = Vec::new();
    let maltrail = text
        .lines()
        .take(5)
        .any(|l| l.starts_with('#') && l.contains("Maltrail"));
    if maltrail {
        if let Some(family) = ctx.report.path.file_stem() {
            labels.push(family.to_string_lossy().to_string());
        }
        for l in text.lines().filter_map(|l| l.strip_prefix("# Aliases:")) {
            labels.extend(
                l.split(',')
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty()),
            );
        }
    }
    let mut batch = LineBatch::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Trailing comments (`1.2.3.4 # scanner`) are common in hand-kept lists.
        let value = line.split_once(" #").map_or(line, |(v, _)| v.trim_end());
        ctx.report.read += 1;
        let line = n as u64 + 1;
        match guess(value) {
            Ok((kind, value)) => {
                let new = NewIndicator {
                    labels: labels.clone(),
                    ..NewIndicator::new(
                        kind,
                        value,
                        Source {
                            feed: ctx.feed.clone(),
                            external_id: None,
                            first_seen: None,
                            last_seen: None,
                        },
                    )
                };
                batch.push(ctx.set, &mut ctx.report, line, new);
            }
            Err(e) => {
                batch.flush(ctx.set, &mut ctx.report);
                ctx.report.reject(Location::Line(line), e.to_string());
            }
        }
    }
    batch.flush(ctx.set, &mut ctx.report);
}
