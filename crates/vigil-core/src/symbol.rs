//! Interned field names.
//!
//! Rules name fields (`Image`, `CommandLine`, `id.orig_h`) and every event carries fields: both
//! sides intern names into a [`Symbol`] once, so evaluating a rule compares 32-bit keys instead
//! of strings and allocates nothing.

use std::fmt;
use std::sync::LazyLock;

use lasso::{Spur, ThreadedRodeo};

static INTERNER: LazyLock<ThreadedRodeo> = LazyLock::new(ThreadedRodeo::default);

/// An interned field name. Equal names always intern to the same symbol, process-wide.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(Spur);

impl Symbol {
    /// Interns `name` (a cheap lookup once the name is known).
    pub fn intern(name: &str) -> Symbol {
        Symbol(INTERNER.get_or_intern(name))
    }

    /// The symbol of `name` if it was ever interned; a rule field no event has ever carried
    /// yields `None` without growing the table.
    pub fn lookup(name: &str) -> Option<Symbol> {
        INTERNER.get(name).map(Symbol)
    }

    /// The name this symbol stands for.
    pub fn as_str(self) -> &'static str {
        // The interner is a process-wide static that never shrinks, so its strings live forever.
        let s: &str = INTERNER.resolve(&self.0);
        // SAFETY: `INTERNER` is a `static` that is never dropped or cleared; lasso never moves
        // or frees an interned string while the interner lives.
        unsafe { std::mem::transmute::<&str, &'static str>(s) }
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({:?})", self.as_str())
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Symbol {
    fn from(name: &str) -> Self {
        Symbol::intern(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_symbol() {
        let a = Symbol::intern("CommandLine");
        let b = Symbol::intern("CommandLine");
        assert_eq!(a, b);
        assert_ne!(a, Symbol::intern("commandline"));
        assert_eq!(a.as_str(), "CommandLine");
        assert_eq!(Symbol::lookup("CommandLine"), Some(a));
        assert_eq!(Symbol::lookup("never-interned-field-xyz"), None);
    }
}
