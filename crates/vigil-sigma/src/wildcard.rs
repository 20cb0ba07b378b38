//! Sigma strings with wildcards: parsing the escapes of a rule value and matching the result.
//!
//! What it is for: turning `C:\Windows\*\cmd.exe` into literal pieces and live `*`/`?`, and
//! matching such a pattern against a string without allocating. What it is not for: regular
//! expressions (`|re`), which go to the `regex` crate.

/// One piece of a Sigma string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Literal text (escapes already resolved).
    Lit(String),
    /// `*`: any run of characters, including none.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A Sigma string value: literal text and live wildcards, in order, adjacent literals merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SigmaStr {
    pub parts: Vec<Part>,
}

impl SigmaStr {
    /// Parses a rule value with pySigma's escapes: `\` escapes `*`, `?` and `\`; before any
    /// other character (or at the end) it is a literal backslash.
    pub fn parse(s: &str) -> SigmaStr {
        let mut out = SigmaStr::default();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&n @ ('*' | '?' | '\\')) => {
                        chars.next();
                        out.push_char(n);
                    }
                    _ => out.push_char('\\'),
                },
                '*' => out.push(Part::Star),
                '?' => out.push(Part::One),
                c => out.push_char(c),
            }
        }
        out
    }

    /// A string with no wildcard.
    pub fn literal(s: &str) -> SigmaStr {
        let mut out = SigmaStr::default();
        if !s.is_empty() {
            out.parts.push(Part::Lit(s.to_string()));
        }
        out
    }

    /// Appends a part, merging literals and collapsing `**`.
    pub fn push(&mut self, part: Part) {
        match (self.parts.last_mut(), part) {
            (Some(Part::Lit(a)), Part::Lit(b)) => a.push_str(&b),
            (Some(Part::Star), Part::Star) => {}
            (_, Part::Lit(b)) if b.is_empty() => {}
            (_, p) => self.parts.push(p),
        }
    }

    fn push_char(&mut self, c: char) {
        match self.parts.last_mut() {
            Some(Part::Lit(a)) => a.push(c),
            _ => self.parts.push(Part::Lit(c.to_string())),
        }
    }

    /// True when there is a live wildcard.
    pub fn has_wildcards(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Lit(_)))
    }

    /// The text when there is no wildcard.
    pub fn as_literal(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => s.push_str(l),
                _ => return None,
            }
        }
        Some(s)
    }

    /// `*` before (unless already there).
    pub fn star_before(&mut self) {
        if self.parts.first() != Some(&Part::Star) {
            self.parts.insert(0, Part::Star);
        }
    }

    /// `*` after (unless already there).
    pub fn star_after(&mut self) {
        self.push(Part::Star);
    }

    /// Applies `f` to every literal piece.
    pub fn map_literals(&self, f: impl Fn(&str) -> String) -> SigmaStr {
        let mut out = SigmaStr::default();
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push(Part::Lit(f(l))),
                other => out.push(other.clone()),
            }
        }
        out
    }

    /// The pattern written back with escapes (for display and the `Glob::pattern` field).
    pub fn to_pattern(&self) -> String {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => {
                    for c in l.chars() {
                        if matches!(c, '*' | '?' | '\\') {
                            s.push('\\');
                        }
                        s.push(c);
                    }
                }
                Part::Star => s.push('*'),
                Part::One => s.push('?'),
            }
        }
        s
    }
}

/// A wildcard pattern compiled for matching: segments between `*`s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GlobProgram {
    /// The pattern begins with `*` (the first segment may start anywhere).
    open_start: bool,
    /// The pattern ends with `*` (the last segment may end anywhere).
    open_end: bool,
    segments: Vec<Segment>,
}

/// Literal text and `?`s with no `*` between them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment {
    pieces: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Lit(Box<str>),
    One,
}

impl GlobProgram {
    /// Compiles `s` (already lowercased when matching case-insensitively).
    pub(crate) fn new(s: &SigmaStr) -> GlobProgram {
        let mut segments = Vec::new();
        let mut cur: Vec<Piece> = Vec::new();
        for p in &s.parts {
            match p {
                Part::Lit(l) => cur.push(Piece::Lit(l.as_str().into())),
                Part::One => cur.push(Piece::One),
                Part::Star => {
                    if !cur.is_empty() {
                        segments.push(Segment {
                            pieces: std::mem::take(&mut cur),
                        });
                    }
                }
            }
        }
        if !cur.is_empty() {
            segments.push(Segment { pieces: cur });
        }
        GlobProgram {
            open_start: s.parts.first() == Some(&Part::Star),
            open_end: s.parts.last() == Some(&Part::Star),
            segments,
        }
    }

    /// The longest literal piece: it occurs in every string the pattern matches.
    pub(crate) fn longest_literal(&self) -> Option<&str> {
        self.segments
            .iter()
            .flat_map(|s| s.pieces.iter())
            .filter_map(|p| match p {
                Piece::Lit(l) => Some(&**l),
                Piece::One => None,
            })
            .max_by_key(|l| l.len())
    }

    /// True when the whole of `hay` matches.
    pub(crate) fn is_match(&self, hay: &str) -> bool {
        let n = self.segments.len();
        if n == 0 {
            // Only stars (or the empty pattern).
            return self.open_start || self.open_end || hay.is_empty();
        }
        let mut pos = 0;
        let mut first = 0;
        let mut last = n;
        if !self.open_start {
            match self.segments[0].match_at(hay, 0) {
                Some(end) => pos = end,
                None => return false,
            }
            first = 1;
            if n == 1 && !self.open_end {
                return pos == hay.len();
            }
        }
        let mut end_limit = hay.len();
        if !self.open_end {
            match self.segments[n - 1].match_suffix(hay) {
                Some(start) if start >= pos => end_limit = start,
                _ => return false,
            }
            last = n - 1;
        }
        for seg in &self.segments[first..last.max(first)] {
            match seg.find(&hay[..end_limit], pos) {
                Some(end) => pos = end,
                None => return false,
            }
        }
        pos <= end_limit
    }
}

impl Segment {
    /// Matches the segment starting exactly at `at`; returns the end position.
    fn match_at(&self, hay: &str, at: usize) -> Option<usize> {
        let mut pos = at;
        for p in &self.pieces {
            match p {
                Piece::Lit(l) => {
                    if hay.as_bytes().get(pos..pos + l.len())? != l.as_bytes() {
                        return None;
                    }
                    pos += l.len();
                }
                Piece::One => pos += hay[pos..].chars().next()?.len_utf8(),
            }
        }
        Some(pos)
    }

    /// Matches the segment ending exactly at the end of `hay`; returns its start.
    fn match_suffix(&self, hay: &str) -> Option<usize> {
        let mut end = hay.len();
        for p in self.pieces.iter().rev() {
            match p {
                Piece::Lit(l) => {
                    let start = end.checked_sub(l.len())?;
                    if &hay.as_bytes()[start..end] != l.as_bytes() {
                        return None;
                    }
                    end = start;
                }
                Piece::One => end -= hay[..end].chars().next_back()?.len_utf8(),
            }
        }
        Some(end)
    }

    /// The leftmost match at or after `from`; returns its end.
    fn find(&self, hay: &str, from: usize) -> Option<usize> {
        match self.pieces.first() {
            Some(Piece::Lit(l)) => {
                let mut start = from;
                while start <= hay.len() {
                    let i = memchr::memmem::find(&hay.as_bytes()[start..], l.as_bytes())?;
                    if let Some(end) = self.match_at(hay, start + i) {
                        return Some(end);
                    }
                    start += i + 1;
                    while !hay.is_char_boundary(start.min(hay.len())) {
                        start += 1;
                    }
                }
                None
            }
            _ => {
                let mut start = from;
                loop {
                    if let Some(end) = self.match_at(hay, start) {
                        return Some(end);
                    }
                    start += hay[start..].chars().next()?.len_utf8();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, hay: &str) -> bool {
        GlobProgram::new(&SigmaStr::parse(pattern)).is_match(hay)
    }

    #[test]
    fn escapes_follow_pysigma() {
        // `\*` is a literal star.
        assert_eq!(
            SigmaStr::parse(r"a\*b").parts,
            vec![Part::Lit("a*b".into())]
        );
        // `\\*` is a literal backslash followed by a live star.
        assert_eq!(
            SigmaStr::parse(r"a\\*").parts,
            vec![Part::Lit(r"a\".into()), Part::Star]
        );
        // `\\\\` is two literal backslashes.
        assert_eq!(
            SigmaStr::parse(r"\\\\").parts,
            vec![Part::Lit(r"\\".into())]
        );
        // A backslash before an ordinary character stays.
        assert_eq!(
            SigmaStr::parse(r"C:\Windows\").parts,
            vec![Part::Lit(r"C:\Windows\".into())]
        );
        assert_eq!(SigmaStr::parse(r"\?").as_literal().as_deref(), Some("?"));
        assert_eq!(SigmaStr::parse(r"a\*b").to_pattern(), r"a\*b");
    }

    #[test]
    fn wildcards_match() {
        assert!(m("*", ""));
        assert!(m("*", "abc"));
        assert!(m("a*c", "abc"));
        assert!(m("a*c", "ac"));
        assert!(!m("a*c", "acb"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("a?c", "aéc"));
        assert!(m("*b*", "abc"));
        assert!(m("*b?d*e", "xxbcdbxde"));
        assert!(m("?", "é"));
        assert!(!m("??", "é"));
        assert!(m("a*b*a", "aba"));
        assert!(!m("a*b*a", "ab"));
        assert!(m("*.exe", "cmd.exe"));
        assert!(!m("*.exe", "cmd.exe.txt"));
        assert!(m(r"C:\\*\cmd.exe", r"C:\Windows\cmd.exe"));
        assert!(!m("ab*ab", "ab"));
        assert!(m("ab*ab", "abab"));
        assert!(m("*?x", "ax"));
        assert!(!m("*?x", "x"));
    }
}
