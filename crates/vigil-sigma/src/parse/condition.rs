//! The condition grammar: `and`, `or`, `not`, parentheses and `1 of` / `any of` / `all of`
//! over identifier patterns or `them`.
//!
//! Precedence, loosest to tightest: `or` < `and` < `not` < `x of` < `( )`; `and`/`or` are
//! left-associative and keywords are case-insensitive. `x of` is expanded here into
//! `And`/`Or` over search indices, so evaluation never sees a pattern.

use crate::ast::Condition;

/// Parses `text` against the search identifiers `names` (indices into the detection's
/// searches). Errors name the offending token or identifier.
pub fn parse_condition(text: &str, names: &[&str]) -> Result<Condition, String> {
    let tokens = tokenize(text);
    if tokens.is_empty() {
        return Err("empty condition".into());
    }
    let mut p = CondParser {
        tokens,
        pos: 0,
        names,
    };
    let c = p.or_expr()?;
    if let Some(t) = p.peek() {
        return Err(format!("unexpected `{t}` after a complete expression"));
    }
    Ok(c)
}

fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c == '(' || c == ')' || c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

struct CondParser<'a> {
    tokens: Vec<String>,
    pos: usize,
    names: &'a [&'a str],
}

impl CondParser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(String::as_str)
    }

    fn peek_kw(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| t.eq_ignore_ascii_case(kw))
    }

    fn next(&mut self) -> Option<String> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or_expr(&mut self) -> Result<Condition, String> {
        let mut items = vec![self.and_expr()?];
        while self.peek_kw("or") {
            self.pos += 1;
            items.push(self.and_expr()?);
        }
        Ok(join(items, Condition::Or))
    }

    fn and_expr(&mut self) -> Result<Condition, String> {
        let mut items = vec![self.not_expr()?];
        while self.peek_kw("and") {
            self.pos += 1;
            items.push(self.not_expr()?);
        }
        Ok(join(items, Condition::And))
    }

    fn not_expr(&mut self) -> Result<Condition, String> {
        if self.peek_kw("not") {
            self.pos += 1;
            return Ok(Condition::Not(Box::new(self.not_expr()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Condition, String> {
        let Some(tok) = self.next() else {
            return Err("the condition ends where an identifier was expected".into());
        };
        match tok.to_ascii_lowercase().as_str() {
            "(" => {
                let c = self.or_expr()?;
                match self.next().as_deref() {
                    Some(")") => Ok(c),
                    Some(t) => Err(format!("expected `)` but found `{t}`")),
                    None => Err("unbalanced parenthesis: missing `)`".into()),
                }
            }
            ")" => Err("unexpected `)`".into()),
            "and" | "or" | "not" | "of" => Err(format!("unexpected `{tok}`")),
            q if self.peek_kw("of") => {
                let any = match q {
                    "1" | "any" => true,
                    "all" => false,
                    n if n.parse::<usize>().is_ok() => {
                        return Err(format!(
                            "`{n} of` is not part of Sigma (only `1 of`, `any of`, `all of`)"
                        ));
                    }
                    _ => return Err(format!("`{tok} of`: expected `1`, `any` or `all`")),
                };
                self.pos += 1;
                let Some(pattern) = self.next() else {
                    return Err(format!("`{tok} of` needs a pattern or `them`"));
                };
                let idx = self.expand(&pattern)?;
                let items = idx.into_iter().map(Condition::Search).collect();
                Ok(join(
                    items,
                    if any { Condition::Or } else { Condition::And },
                ))
            }
            _ => match self.names.iter().position(|n| *n == tok) {
                Some(i) => Ok(Condition::Search(i)),
                None => Err(format!("unknown search identifier `{tok}`")),
            },
        }
    }

    /// The indices an `x of` pattern covers.
    fn expand(&self, pattern: &str) -> Result<Vec<usize>, String> {
        let them = pattern.eq_ignore_ascii_case("them");
        let idx: Vec<usize> = self
            .names
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                if them {
                    !n.starts_with('_')
                } else {
                    (pattern.starts_with('_') || !n.starts_with('_')) && name_matches(pattern, n)
                }
            })
            .map(|(i, _)| i)
            .collect();
        if idx.is_empty() {
            return Err(if them {
                "`them` covers no search identifier".into()
            } else {
                format!("pattern `{pattern}` matches no search identifier")
            });
        }
        Ok(idx)
    }
}

fn join(mut items: Vec<Condition>, make: fn(Vec<Condition>) -> Condition) -> Condition {
    if items.len() == 1 {
        items.pop().expect("one item")
    } else {
        make(items)
    }
}

/// `*` anywhere in the pattern matches any run of characters.
fn name_matches(pattern: &str, name: &str) -> bool {
    let s = crate::wildcard::SigmaStr {
        parts: pattern
            .split('*')
            .enumerate()
            .flat_map(|(i, lit)| {
                let star = (i > 0).then_some(crate::wildcard::Part::Star);
                star.into_iter()
                    .chain((!lit.is_empty()).then(|| crate::wildcard::Part::Lit(lit.into())))
            })
            .collect(),
    };
    crate::wildcard::GlobProgram::new(&s).is_match(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Condition::*;

    fn s(i: usize) -> Condition {
        Search(i)
    }

    const NAMES: [&str; 5] = ["a", "b", "c", "sel_x", "_private"];

    fn p(text: &str) -> Result<Condition, String> {
        parse_condition(text, &NAMES)
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(
            p("a or b and not c"),
            Ok(Or(vec![s(0), And(vec![s(1), Not(Box::new(s(2)))])]))
        );
        assert_eq!(
            p("(a or b) and c"),
            Ok(And(vec![Or(vec![s(0), s(1)]), s(2)]))
        );
        assert_eq!(
            p("a AND b Or NOT c"),
            Ok(Or(vec![And(vec![s(0), s(1)]), Not(Box::new(s(2)))]))
        );
        assert_eq!(p("not not a"), Ok(Not(Box::new(Not(Box::new(s(0)))))));
        assert_eq!(p("a and b and c"), Ok(And(vec![s(0), s(1), s(2)])));
        // `not` binds tighter than `and`, `x of` tighter than `not`.
        assert_eq!(
            p("not 1 of sel_* and a"),
            Ok(And(vec![Not(Box::new(s(3))), s(0)]))
        );
    }

    #[test]
    fn quantifiers_and_underscore_identifiers() {
        assert_eq!(p("1 of them"), Ok(Or(vec![s(0), s(1), s(2), s(3)])));
        assert_eq!(p("all of them"), Ok(And(vec![s(0), s(1), s(2), s(3)])));
        assert_eq!(p("any of sel*"), Ok(s(3)));
        // `*` matches `_private` only when the pattern itself starts with `_`.
        assert_eq!(p("1 of *"), Ok(Or(vec![s(0), s(1), s(2), s(3)])));
        assert_eq!(p("1 of _*"), Ok(s(4)));
        assert_eq!(p("1 of *e*"), Ok(s(3)));
        assert_eq!(p("_private"), Ok(s(4)));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(p("a and zzz").unwrap_err().contains("zzz"));
        assert!(p("1 of nothing*").unwrap_err().contains("nothing*"));
        assert!(p("(a or b").unwrap_err().contains(")"));
        assert!(p("a b").is_err());
        assert!(p("a and").is_err());
        assert!(p("2 of them").is_err());
        assert!(p("").is_err());
    }
}
