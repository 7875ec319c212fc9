//! The statement language of `metald-host run`: one statement per line, `#` comments,
//! WAVE values, errors with line and column.
//!
//! ```text
//! let b = vm-config-builder.from-template(standard)   # bind a result
//! b.with-cpu(4, 8)                                    # a method of a bound resource
//! let vm = client.create-vm(b.build())                # not allowed: calls do not nest
//! assert info.state == running                        # compare a value
//! expect not_found: client.get-vm-info(vm.vm-id)      # the call must fail with this code
//! ```

use std::fmt;

/// A position-carrying piece of the script (1-based column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned {
    /// The text.
    pub text: String,
    /// Its column.
    pub col: usize,
}

/// A call: `callee(args)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The callee as written (`client.create-vm`, `metald:client/templates.template-config`).
    pub callee: Spanned,
    /// Interface given in full (`metald:client/templates`), if any.
    pub interface: Option<String>,
    /// The dotted name after the interface (`[client, create-vm]`).
    pub path: Vec<String>,
    /// Arguments, split at top-level commas, each with its column.
    pub args: Vec<Spanned>,
    /// The call as written, for output.
    pub text: String,
}

/// One statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Statement {
    /// `CALL` or `let NAME = CALL`.
    Call {
        /// The variable bound to the result.
        binding: Option<Spanned>,
        /// The call.
        call: Call,
    },
    /// `expect CODE: CALL`: the call must return an error with this code.
    Expect {
        /// A Connect code (`not_found`, or in WIT spelling `not-found`), an error case
        /// (`invalid_config`, `other`), or `any`.
        code: Spanned,
        /// The call.
        call: Call,
    },
    /// `assert PATH == VALUE`.
    Assert {
        /// A variable path (`info.state`).
        path: Spanned,
        /// The expected value, in WAVE.
        expected: Spanned,
    },
}

/// A statement and its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub number: usize,
    /// The statement.
    pub statement: Statement,
}

/// A problem in the script, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.col, self.message)
    }
}

const KEYWORDS: [&str; 9] = ["let", "expect", "assert", "true", "false", "none", "some", "ok", "err"];

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// Whether `name` is a valid variable name (a WIT-style identifier, not a keyword).
pub fn valid_variable(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(is_name_char)
        && !KEYWORDS.contains(&name)
}

/// Whether `path` is `name(.field|[index])*`.
pub fn valid_path(path: &str) -> bool {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    if !valid_variable(&path[..end]) {
        return false;
    }
    let mut rest = &path[end..];
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let len = after.find(['.', '[']).unwrap_or(after.len());
            let field = &after[..len];
            if field.is_empty()
                || !field.starts_with(|c: char| c.is_ascii_alphabetic())
                || !field.chars().all(is_name_char)
            {
                return false;
            }
            rest = &after[len..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let Some(close) = after.find(']') else { return false };
            if after[..close].parse::<usize>().is_err() {
                return false;
            }
            rest = &after[close + 1..];
        } else {
            return false;
        }
    }
    true
}

/// Tracks string and char literals (with `\` escapes) while scanning text char by char.
#[derive(Default)]
pub struct Literals {
    quote: Option<char>,
    escaped: bool,
}

impl Literals {
    /// Feeds the next char; true when it is code, false when it belongs to a literal.
    pub fn is_code(&mut self, c: char) -> bool {
        match self.quote {
            Some(q) => {
                if self.escaped {
                    self.escaped = false;
                } else if c == '\\' {
                    self.escaped = true;
                } else if c == q {
                    self.quote = None;
                }
                false
            }
            None if c == '"' || c == '\'' => {
                self.quote = Some(c);
                false
            }
            None => true,
        }
    }

    /// Whether a literal is still open.
    pub fn is_open(&self) -> bool {
        self.quote.is_some()
    }
}

/// Removes a `#` comment (outside string and char literals).
fn strip_comment(line: &str) -> &str {
    let mut literals = Literals::default();
    match line.char_indices().find(|&(_, c)| literals.is_code(c) && c == '#') {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

/// Parses a whole script; every syntax error is reported, with line and column.
pub fn parse(text: &str) -> Result<Vec<Line>, Vec<ScriptError>> {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let code = strip_comment(raw);
        if code.trim().is_empty() {
            continue;
        }
        match parse_statement(code) {
            Ok(statement) => lines.push(Line { number, statement }),
            Err((col, message)) => errors.push(ScriptError { line: number, col, message }),
        }
    }
    if errors.is_empty() { Ok(lines) } else { Err(errors) }
}

/// Parses one statement (`col` in errors is 1-based within `code`).
pub fn parse_statement(code: &str) -> Result<Statement, (usize, String)> {
    let start = code.len() - code.trim_start().len();
    let body = code.trim_end();
    let rest = &body[start..];
    if let Some(after) = keyword(rest, "let") {
        let offset = start + (rest.len() - after.len());
        let (name, name_col, after_name) = word(after, offset);
        if !valid_variable(&name) {
            return Err((name_col, format!("expected a variable name after `let`, found {name:?}")));
        }
        let after_eq = after_name.trim_start();
        let eq_col = body.len() - after_eq.len() + 1;
        let Some(call_text) = after_eq.strip_prefix('=') else {
            return Err((eq_col, "expected `=` after the variable name".into()));
        };
        let call_offset = body.len() - call_text.len();
        let call = parse_call(call_text, call_offset)?;
        return Ok(Statement::Call { binding: Some(Spanned { text: name, col: name_col }), call });
    }
    if let Some(after) = keyword(rest, "expect") {
        let offset = start + (rest.len() - after.len());
        let Some((code_text, call_text)) = after.split_once(':') else {
            return Err((
                offset + 1,
                "expected `expect CODE: CALL`, e.g. `expect not-found: client.get-vm-info(id)`".into(),
            ));
        };
        let code_col = offset + (code_text.len() - code_text.trim_start().len()) + 1;
        let code_name = code_text.trim();
        // Connect's spelling (`not_found`) or WIT's (`not-found`).
        if !code_name.chars().all(|c| is_name_char(c) || c == '_') || code_name.is_empty() {
            return Err((code_col, format!("expected an error code like not_found, found {code_name:?}")));
        }
        let call_offset = offset + code_text.len() + 1;
        let call = parse_call(call_text, call_offset)?;
        return Ok(Statement::Expect { code: Spanned { text: code_name.to_string(), col: code_col }, call });
    }
    if let Some(after) = keyword(rest, "assert") {
        let offset = start + (rest.len() - after.len());
        let Some((left, right)) = after.split_once("==") else {
            return Err((offset + 1, "expected `assert PATH == VALUE`".into()));
        };
        let path_col = offset + (left.len() - left.trim_start().len()) + 1;
        let value_col = offset + left.len() + 2 + (right.len() - right.trim_start().len()) + 1;
        let path = left.trim();
        if path.is_empty() || right.trim().is_empty() {
            return Err((offset + 1, "expected `assert PATH == VALUE`".into()));
        }
        if !valid_path(path) {
            return Err((
                path_col,
                format!("{path:?} is not a variable path like name.field[0].sub; calls are not allowed here"),
            ));
        }
        return Ok(Statement::Assert {
            path: Spanned { text: path.to_string(), col: path_col },
            expected: Spanned { text: right.trim().to_string(), col: value_col },
        });
    }
    Ok(Statement::Call { binding: None, call: parse_call(rest, start)? })
}

/// `rest` after `word` and whitespace, if `text` starts with that keyword.
fn keyword<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let after = text.strip_prefix(word)?;
    after.starts_with(char::is_whitespace).then_some(after)
}

/// The next identifier: (name, 1-based column, rest).
fn word(text: &str, offset: usize) -> (String, usize, &str) {
    let trimmed = text.trim_start();
    let col = offset + (text.len() - trimmed.len()) + 1;
    let end = trimmed.find(|c: char| !is_name_char(c)).unwrap_or(trimmed.len());
    (trimmed[..end].to_string(), col, &trimmed[end..])
}

/// Parses `callee(args)`; `offset` is the byte offset of `text` in its line.
pub fn parse_call(text: &str, offset: usize) -> Result<Call, (usize, String)> {
    let lead = text.len() - text.trim_start().len();
    let text_trimmed = text.trim();
    let col = offset + lead + 1;
    let Some(open) = text_trimmed.find('(') else {
        return Err((col, format!("expected a call like name(args), found {text_trimmed:?}")));
    };
    if !text_trimmed.ends_with(')') {
        return Err((col + text_trimmed.len(), "expected `)` at the end of the call".into()));
    }
    let callee = text_trimmed[..open].trim_end();
    let (interface, dotted) = match callee.rsplit_once('/') {
        Some((package, rest)) => {
            split_qualified(package, rest).ok_or((col, format!("malformed interface name in {callee:?}")))?
        }
        None => (None, callee),
    };
    let path: Vec<String> = dotted.split('.').map(str::to_string).collect();
    if let Some(bad) = path.iter().find(|segment| segment.is_empty() || !segment.chars().all(is_name_char)) {
        return Err((
            col,
            format!("{bad:?} in {callee:?} is not a name; names are kebab-case like create-vm"),
        ));
    }
    let inner = &text_trimmed[open + 1..text_trimmed.len() - 1];
    let args = split_args(inner, offset + lead + open + 1)?;
    Ok(Call {
        callee: Spanned { text: callee.to_string(), col },
        interface,
        path,
        args,
        text: text_trimmed.to_string(),
    })
}

/// `metald:client` + `templates@0.1.0.template-config` -> (`metald:client/templates@0.1.0`,
/// `template-config`).
fn split_qualified<'a>(package: &str, rest: &'a str) -> Option<(Option<String>, &'a str)> {
    if !package.contains(':') {
        return None;
    }
    let name_end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
    let mut end = name_end;
    if rest[end..].starts_with('@') {
        // A version: digits and dots, ending before `.name`.
        let version = &rest[end + 1..];
        let mut version_end = 0;
        for (i, c) in version.char_indices() {
            if c == '.' && version[i + 1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
                break;
            }
            version_end = i + c.len_utf8();
        }
        end += 1 + version_end;
    }
    let dotted = rest[end..].strip_prefix('.')?;
    Some((Some(format!("{package}/{}", &rest[..end])), dotted))
}

/// Splits an argument list at top-level commas; each argument keeps its 1-based column.
pub fn split_args(text: &str, offset: usize) -> Result<Vec<Spanned>, (usize, String)> {
    let mut args = Vec::new();
    let mut depth: Vec<char> = Vec::new();
    let mut literals = Literals::default();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if !literals.is_code(c) {
            continue;
        }
        match c {
            '(' | '[' | '{' => depth.push(c),
            ')' | ']' | '}' => {
                let expected = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if depth.pop() != Some(expected) {
                    return Err((offset + i + 1, format!("unbalanced `{c}`")));
                }
            }
            ',' if depth.is_empty() => {
                args.push(spanned_arg(text, start, i, offset)?);
                start = i + 1;
            }
            _ => {}
        }
    }
    if literals.is_open() {
        return Err((offset + text.len() + 1, "unterminated string".into()));
    }
    if let Some(open) = depth.last() {
        return Err((offset + text.len() + 1, format!("unclosed `{open}`")));
    }
    if !text[start..].trim().is_empty() || !args.is_empty() {
        args.push(spanned_arg(text, start, text.len(), offset)?);
    }
    Ok(args)
}

fn spanned_arg(text: &str, start: usize, end: usize, offset: usize) -> Result<Spanned, (usize, String)> {
    let raw = &text[start..end];
    let lead = raw.len() - raw.trim_start().len();
    let col = offset + start + lead + 1;
    if raw.trim().is_empty() {
        return Err((col, "empty argument".into()));
    }
    Ok(Spanned { text: raw.trim().to_string(), col })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(line: &str) -> Call {
        match parse_statement(line).unwrap() {
            Statement::Call { call, .. } => call,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_calls_with_nested_arguments_and_columns() {
        let c = call(
            r#"client.shutdown-vm({vm-id: vm.vm-id, force: false, timeout-seconds: 30}, "a,b", [1, 2])"#,
        );
        assert_eq!(c.path, ["client", "shutdown-vm"]);
        let args: Vec<(&str, usize)> = c.args.iter().map(|a| (a.text.as_str(), a.col)).collect();
        assert_eq!(
            args,
            [("{vm-id: vm.vm-id, force: false, timeout-seconds: 30}", 20), ("\"a,b\"", 74), ("[1, 2]", 81)]
        );
        assert!(call("disable-console()").args.is_empty());
    }

    #[test]
    fn parses_let_expect_and_assert() {
        assert!(matches!(
            parse_statement("let vm = client.create-vm(config)").unwrap(),
            Statement::Call { binding: Some(Spanned { ref text, col: 5 }), .. } if text == "vm"
        ));
        let Statement::Expect { code, call } =
            parse_statement("expect not-found: client.get-vm-info(id)").unwrap()
        else {
            panic!()
        };
        assert_eq!((code.text.as_str(), call.path.len()), ("not-found", 2));
        let Statement::Expect { code, .. } =
            parse_statement("expect not_found: client.get-vm-info(id)").unwrap()
        else {
            panic!()
        };
        assert_eq!(code.text, "not_found", "the Connect spelling");
        let Statement::Assert { path, expected } = parse_statement("  assert info.state == running").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (path.text.as_str(), path.col, expected.text.as_str(), expected.col),
            ("info.state", 10, "running", 24)
        );
    }

    #[test]
    fn parses_fully_qualified_names() {
        let c = call("metald:client/templates@0.1.0.template-config(standard)");
        assert_eq!(c.interface.as_deref(), Some("metald:client/templates@0.1.0"));
        assert_eq!(c.path, ["template-config"]);
        let c = call("metald:client/builder.vm-config-builder.from-template(minimal)");
        assert_eq!(c.interface.as_deref(), Some("metald:client/builder"));
        assert_eq!(c.path, ["vm-config-builder", "from-template"]);
    }

    #[test]
    fn assert_paths_are_checked() {
        assert!(valid_path("page.vms[0].vm-id"));
        assert!(valid_path("x"));
        for bad in ["x.build()", "x..y", "x[a]", "1x", "x.[0]", "let"] {
            assert!(!valid_path(bad), "{bad}");
        }
        assert_eq!(parse_statement("assert b.build() == 1").unwrap_err().0, 8);
    }

    #[test]
    fn comments_and_blank_lines_are_skipped_but_not_inside_strings() {
        let lines = parse("# setup\n\nlet t = parse-template(\"high#cpu\") # trailing\n").unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].number, 3);
        let Statement::Call { call, .. } = &lines[0].statement else { panic!() };
        assert_eq!(call.args[0].text, "\"high#cpu\"");
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let errors =
            parse("let = x()\nfoo(1, 2\nbar(1,, 2)\nlet ok = y()\nbaz(\"open)\nexpect nope client.x()")
                .unwrap_err();
        let positions: Vec<(usize, usize)> = errors.iter().map(|e| (e.line, e.col)).collect();
        assert_eq!(positions, [(1, 5), (2, 9), (3, 7), (4, 5), (5, 10), (6, 7)], "{errors:#?}");
        assert!(errors[2].message.contains("empty argument"));
    }

    proptest::proptest! {
        #[test]
        fn the_parser_never_panics_on_arbitrary_text(text in "\\PC{0,300}") {
            let _ = parse(&text);
        }

        #[test]
        fn the_parser_never_panics_on_script_like_text(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "let ", "x", " = ", "client", ".", "create-vm", "(", ")", "{", "}", "[", "]", ",", ":", "\"",
                    "'", "#", "\n", "assert ", " == ", "expect ", "not-found", "metald:client/", "@0.1.0", "1", " ",
                ]),
                0..60,
            )
        ) {
            let _ = parse(&parts.concat());
        }
    }
}
