//! Expressions printed the way formatters (ruff, prettier) leave them: on one line when they
//! fit, otherwise one item per line with a trailing comma. Shared by the Python and
//! JavaScript emitters.

use std::fmt::Write as _;

/// The width of `s` in columns, as formatters count it for ASCII and most other text.
pub fn width(s: &str) -> usize {
    s.chars().count()
}

/// How a language lays out broken groups.
pub struct Style {
    /// The line length.
    pub line: usize,
    /// Columns one nesting level indents by.
    pub step: usize,
}

/// An expression: an atom, or a delimited group of items.
pub enum Expr {
    /// Text printed as it is.
    Atom(String),
    /// `open` item, item `close`.
    Group {
        /// The opening text, e.g. `f(` or `{`.
        open: String,
        /// The items, separated by `, `.
        items: Vec<Expr>,
        /// The closing text.
        close: String,
        /// A Python tuple: one item gets its comma.
        tuple: bool,
        /// On one line, a space inside the delimiters (`{ a: 1 }`, as prettier prints
        /// JavaScript objects).
        pad: bool,
    },
}

impl Expr {
    /// An atom.
    pub fn atom(s: impl Into<String>) -> Expr {
        Expr::Atom(s.into())
    }

    /// A group without padding.
    pub fn group(open: impl Into<String>, items: Vec<Expr>, close: impl Into<String>) -> Expr {
        Expr::Group { open: open.into(), items, close: close.into(), tuple: false, pad: false }
    }

    /// A call `head(items)`.
    pub fn call(head: &str, items: Vec<Expr>) -> Expr {
        Expr::group(format!("{head}("), items, ")")
    }

    /// A Python tuple.
    pub fn tuple(items: Vec<Expr>) -> Expr {
        Expr::Group { open: "(".into(), items, close: ")".into(), tuple: true, pad: false }
    }

    /// The one-line form.
    pub fn flat(&self) -> String {
        match self {
            Expr::Atom(s) => s.clone(),
            Expr::Group { open, items, close, tuple, pad } => {
                let inner = items.iter().map(Expr::flat).collect::<Vec<_>>().join(", ");
                let comma = if *tuple && items.len() == 1 { "," } else { "" };
                let space = if *pad && !items.is_empty() { " " } else { "" };
                format!("{open}{space}{inner}{comma}{space}{close}")
            }
        }
    }

    /// Prints at column `indent`, after `prefix` on the same line and before `suffix`, ending
    /// with a newline.
    pub fn render(&self, style: &Style, indent: usize, prefix: &str, suffix: &str) -> String {
        let flat = self.flat();
        let pad = " ".repeat(indent);
        match self {
            Expr::Group { open, items, close, .. }
                if indent + width(prefix) + width(&flat) + width(suffix) > style.line =>
            {
                let mut s = format!("{pad}{prefix}{open}\n");
                for item in items {
                    s.push_str(&item.render(style, indent + style.step, "", ","));
                }
                let _ = writeln!(s, "{pad}{close}{suffix}");
                s
            }
            _ => format!("{pad}{prefix}{flat}{suffix}\n"),
        }
    }
}
