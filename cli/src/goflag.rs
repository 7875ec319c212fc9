//! How flag values are read: exactly as Go's `flag` package reads metald-cli's flags, so a
//! seed invocation never means something different here.
//!
//! - Spelling: `-flag`, `--flag`, `-flag=value`, `--flag=value`, and `-flag value` for flags
//!   that take a value (the next argument is the value whatever it looks like, `-x`
//!   included). A bool flag never takes a separate argument: `-json false` is `-json` and
//!   then the argument `false`.
//! - Bools: `strconv.ParseBool` (`1 t T TRUE true True 0 f F FALSE false False`); a bare
//!   `-flag` is true.
//! - Integers: `strconv.ParseUint` with base 0 (`42`, `0x2a`, `0o52`, `052` (octal, as in Go),
//!   `0b101010`, `1_000`), in the flag's Go type.
//! - Durations: `time.ParseDuration` (`250ms`, `1m30s`, `1.5h`, `0`; a bare number other than
//!   `0` is an error).
//!
//! Where a value is valid for metald-cli but we cannot give it the same meaning, the flag is
//! refused (a usage error, exit 2) with a message saying what metald-cli would make of it.

use std::time::Duration;

/// The spellings `strconv.ParseBool` accepts.
const GO_BOOLS: &str = "1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False";

/// Go's `strconv.ParseBool`.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "not a boolean; metald-cli refuses it too (Go's strconv.ParseBool accepts {GO_BOOLS})"
        )),
    }
}

/// Why an integer did not parse, as `strconv.ParseUint` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntError {
    /// Not an integer in Go's syntax.
    Syntax,
    /// Larger than the type holds.
    Range,
}

/// Go's `strconv.ParseUint(text, 0, bits)`: base from the prefix (`0x`, `0o`, `0b`, a bare
/// leading `0` is octal), `_` between digits.
pub fn parse_uint(text: &str, bits: u32) -> Result<u64, IntError> {
    if text.is_empty() {
        return Err(IntError::Syntax);
    }
    let max: u64 = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let bytes = text.as_bytes();
    let (base, digits): (u64, &[u8]) = if bytes[0] == b'0' {
        match bytes.get(1).map(u8::to_ascii_lowercase) {
            Some(b'b') if bytes.len() >= 3 => (2, &bytes[2..]),
            Some(b'o') if bytes.len() >= 3 => (8, &bytes[2..]),
            Some(b'x') if bytes.len() >= 3 => (16, &bytes[2..]),
            _ => (8, &bytes[1..]),
        }
    } else {
        (10, bytes)
    };
    let mut value: u64 = 0;
    let mut underscores = false;
    for &c in digits {
        let digit = match c {
            b'_' => {
                underscores = true;
                continue;
            }
            b'0'..=b'9' => u64::from(c - b'0'),
            b'a'..=b'z' | b'A'..=b'Z' => u64::from(c.to_ascii_lowercase() - b'a') + 10,
            _ => return Err(IntError::Syntax),
        };
        if digit >= base {
            return Err(IntError::Syntax);
        }
        value = value
            .checked_mul(base)
            .and_then(|v| v.checked_add(digit))
            .filter(|v| *v <= max)
            .ok_or(IntError::Range)?;
    }
    if underscores && !underscores_ok(text) {
        return Err(IntError::Syntax);
    }
    Ok(value)
}

/// Go's `underscoreOK`: underscores only between digits (or after a base prefix).
fn underscores_ok(text: &str) -> bool {
    let mut s = text.as_bytes();
    if let Some((b'+' | b'-', rest)) = s.split_first() {
        s = rest;
    }
    // '^' start, '0' digit or base prefix, '_' underscore, '!' anything else.
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = s[1].eq_ignore_ascii_case(&b'x');
    }
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_digit() || (hex && c.to_ascii_lowercase().is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

fn int_error(error: IntError, go_type: &str) -> String {
    match error {
        IntError::Syntax => "not an integer; metald-cli refuses it too (Go's strconv.ParseUint, base 0: 42, \
                             0x2a, 0o52, 052 (octal), 0b101010, 1_000)"
            .to_string(),
        IntError::Range => format!("out of range for a Go {go_type}; metald-cli refuses it too"),
    }
}

/// Go's `time.ParseDuration`, in nanoseconds (negative durations included).
pub fn parse_duration_nanos(text: &str) -> Result<i64, String> {
    let invalid = || format!("invalid duration {text:?}");
    let mut s = text.as_bytes();
    let mut negative = false;
    if let Some((&sign @ (b'-' | b'+'), rest)) = s.split_first() {
        negative = sign == b'-';
        s = rest;
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // [0-9]*
        let mut whole: u64 = 0;
        let mut i = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            if whole > LIMIT / 10 {
                return Err(invalid());
            }
            whole = whole * 10 + u64::from(s[i] - b'0');
            if whole > LIMIT {
                return Err(invalid());
            }
            i += 1;
        }
        let before_point = i > 0;
        s = &s[i..];
        // (\.[0-9]*)?
        let mut fraction: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut after_point = false;
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let mut i = 0;
            let mut overflow = false;
            while i < s.len() && s[i].is_ascii_digit() {
                if !overflow {
                    if fraction > (LIMIT - 1) / 10 {
                        overflow = true;
                    } else {
                        let next = fraction * 10 + u64::from(s[i] - b'0');
                        if next > LIMIT {
                            overflow = true;
                        } else {
                            fraction = next;
                            scale *= 10.0;
                        }
                    }
                }
                i += 1;
            }
            after_point = i > 0;
            s = &s[i..];
        }
        if !before_point && !after_point {
            return Err(invalid());
        }
        let unit_end = s.iter().position(|c| *c == b'.' || c.is_ascii_digit()).unwrap_or(s.len());
        if unit_end == 0 {
            return Err(format!("missing unit in duration {text:?}"));
        }
        let unit_text = String::from_utf8_lossy(&s[..unit_end]);
        let unit: u64 = match unit_text.as_ref() {
            "ns" => 1,
            // U+00B5 (micro sign) and U+03BC (Greek mu), as Go accepts both.
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => return Err(format!("unknown unit {other:?} in duration {text:?}")),
        };
        s = &s[unit_end..];
        if whole > LIMIT / unit {
            return Err(invalid());
        }
        let mut value = whole * unit;
        if fraction > 0 {
            // As Go: float64 is exact enough for fractions of the largest unit.
            value += (fraction as f64 * (unit as f64 / scale)) as u64;
            if value > LIMIT {
                return Err(invalid());
            }
        }
        total += value;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if negative {
        // total <= 2^63, so -total fits.
        return Ok((total as i128).wrapping_neg() as i64);
    }
    i64::try_from(total).map_err(|_| invalid())
}

const GO_DURATIONS: &str = "Go's time.ParseDuration: 250ms, 30s, 1m30s, 1.5h, 0";

fn duration_syntax(error: String) -> String {
    format!("{error}; metald-cli refuses it too ({GO_DURATIONS}; a number needs a unit)")
}

/// A duration flag of our own (no metald-cli meaning to match): Go syntax, not negative.
pub fn duration(text: &str) -> Result<Duration, String> {
    let nanos = parse_duration_nanos(text).map_err(duration_syntax)?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| "a negative duration is not accepted here".to_string())
}

/// metald-cli's default `-timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// `-timeout`, as metald-cli uses it: `0` means the default (30 s). The component's deadline
/// counts whole milliseconds up to `u32::MAX`, so values it cannot hold exactly are refused.
pub fn timeout(text: &str) -> Result<Duration, String> {
    let nanos = parse_duration_nanos(text).map_err(duration_syntax)?;
    if nanos == 0 {
        return Ok(DEFAULT_TIMEOUT);
    }
    if nanos < 0 {
        return Err(
            "metald-cli would run with no timeout at all (Go's http.Client ignores a negative timeout); \
             not accepted: give a positive duration, or 0 for the default 30s"
                .into(),
        );
    }
    let exact = Duration::from_nanos(nanos.unsigned_abs());
    if nanos % 1_000_000 != 0 {
        return Err(format!(
            "metald-cli would wait exactly {exact:?}; the deadline here counts whole milliseconds, so it is \
             not accepted: round it to a millisecond"
        ));
    }
    if exact.as_millis() > u128::from(u32::MAX) {
        return Err(format!(
            "metald-cli would wait {exact:?}; the longest deadline here is {:?} (u32 milliseconds), so it is \
             not accepted",
            Duration::from_millis(u64::from(u32::MAX))
        ));
    }
    Ok(exact)
}

/// `-cpu`: a Go `uint` that metald-cli passes to `WithCPU` as a `uint32`.
pub fn cpu(text: &str) -> Result<u32, String> {
    let value = parse_uint(text, 64).map_err(|e| int_error(e, "uint"))?;
    u32::try_from(value).map_err(|_| {
        format!(
            "{value} vCPUs do not fit in 32 bits; metald-cli would keep only the low 32 bits \
             (uint32({value}) = {}), so it is not accepted",
            value as u32
        )
    })
}

/// `-memory`: a Go `uint64` (MiB).
pub fn uint64(text: &str) -> Result<u64, String> {
    parse_uint(text, 64).map_err(|e| int_error(e, "uint64"))
}

/// An unsigned 32-bit flag of our own (`--retries`), read with the same integer syntax.
pub fn uint32(text: &str) -> Result<u32, String> {
    parse_uint(text, 32).map(|v| v as u32).map_err(|e| int_error(e, "uint32"))
}

/// How a long flag is spelled on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagSpec {
    /// The name without dashes.
    pub name: String,
    /// Whether it needs a value (`-server URL`); bools and switches take none.
    pub takes_value: bool,
}

/// Rewrites Go-style flags into the one spelling clap parses, with Go's rules: a single or
/// double dash, `=value` or (for a flag that needs one) the next argument as its value, taken
/// verbatim even when it starts with `-`. Short flags (`-v`, `-h`), unknown names,
/// positional arguments and anything after `--` are left alone.
pub fn normalize(args: Vec<String>, flags: &[FlagSpec]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    if let Some(program) = args.next() {
        out.push(program);
    }
    while let Some(arg) = args.next() {
        if arg == "--" {
            out.push(arg);
            out.extend(args.by_ref());
            break;
        }
        let body = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'));
        let Some(body) = body.filter(|b| !b.is_empty() && !b.starts_with(['-', '='])) else {
            out.push(arg);
            continue;
        };
        let (name, value) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        let Some(flag) = flags.iter().find(|f| f.name == name) else {
            out.push(arg);
            continue;
        };
        match value {
            Some(value) => out.push(format!("--{name}={value}")),
            None if flag.takes_value => match args.next() {
                Some(next) => out.push(format!("--{name}={next}")),
                None => out.push(format!("--{name}")),
            },
            None => out.push(format!("--{name}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parse_bool_spelling() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(f), Ok(false), "{f}");
        }
        for bad in ["", "yes", "no", "tRUE", "TrUe", "2", "on", " true"] {
            assert!(parse_bool(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parse_uint_base_0_as_go() {
        let ok = [
            ("0", 0),
            ("42", 42),
            ("0x2a", 42),
            ("0X2A", 42),
            ("0o52", 42),
            ("0O52", 42),
            ("052", 42),
            ("0b101010", 42),
            ("1_000", 1000),
            ("0x_2a", 42),
            ("0_52", 42),
            ("18446744073709551615", u64::MAX),
        ];
        for (text, value) in ok {
            assert_eq!(parse_uint(text, 64), Ok(value), "{text}");
        }
        let syntax = [
            "", "08", "09", "0x", "0b", "0o", "-1", "+1", "1_", "_1", "1__0", "0b2", "1.5", " 1", "1e3",
            "0xg",
        ];
        for text in syntax {
            assert_eq!(parse_uint(text, 64), Err(IntError::Syntax), "{text}");
        }
        assert_eq!(parse_uint("18446744073709551616", 64), Err(IntError::Range));
        assert_eq!(parse_uint("4294967296", 32), Err(IntError::Range));
        assert_eq!(parse_uint("4294967295", 32), Ok(u64::from(u32::MAX)));
    }

    #[test]
    fn parse_duration_as_go() {
        let ms = 1_000_000i64;
        let s = 1_000 * ms;
        let ok = [
            ("0", 0),
            ("+0", 0),
            ("-0", 0),
            ("5s", 5 * s),
            ("30s", 30 * s),
            ("1478s", 1478 * s),
            ("-5s", -5 * s),
            ("+5s", 5 * s),
            ("-0s", 0),
            ("250ms", 250 * ms),
            ("1.5s", 1500 * ms),
            (".5s", 500 * ms),
            ("1.s", s),
            ("1.0s", s),
            ("1m30s", 90 * s),
            ("1.5h", 5400 * s),
            ("2h45m", 9900 * s),
            ("10ns", 10),
            ("11us", 11_000),
            ("12µs", 12_000),
            ("12μs", 12_000),
            ("13ms", 13 * ms),
            ("3h30m40s", (3 * 3600 + 30 * 60 + 40) * s),
            ("1s500ms", 1500 * ms),
            ("0.3333333333333333333h", 20 * 60 * s),
            ("9223372036854775807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("0.100000000000000000000h", 6 * 60 * s),
        ];
        for (text, nanos) in ok {
            assert_eq!(parse_duration_nanos(text), Ok(nanos), "{text}");
        }
        let bad = [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "1x",
            "1..5s",
            "1s ",
            " 1s",
            "ms",
            "5",
            "1_000ms",
            "9223372036854775808ns",
            "3000000h",
        ];
        for text in bad {
            assert!(parse_duration_nanos(text).is_err(), "{text}");
        }
    }

    #[test]
    fn timeout_zero_is_the_default_and_unmatchable_values_are_refused() {
        assert_eq!(timeout("0"), Ok(DEFAULT_TIMEOUT));
        assert_eq!(timeout("0s"), Ok(DEFAULT_TIMEOUT));
        assert_eq!(timeout("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(timeout("250ms"), Ok(Duration::from_millis(250)));
        assert!(timeout("-1s").unwrap_err().contains("no timeout at all"));
        assert!(timeout("250us").unwrap_err().contains("exactly 250µs"));
        assert!(timeout("1200h").unwrap_err().contains("longest deadline"));
        assert!(timeout("5").unwrap_err().contains("missing unit"));
    }

    #[test]
    fn cpu_values_go_would_truncate_are_refused() {
        assert_eq!(cpu("0x10"), Ok(16));
        assert_eq!(cpu("010"), Ok(8), "a leading 0 is octal in Go");
        let error = cpu("4294967297").unwrap_err();
        assert!(error.contains("uint32(4294967297) = 1"), "{error}");
    }

    fn specs() -> Vec<FlagSpec> {
        let spec = |name: &str, takes_value| FlagSpec { name: name.into(), takes_value };
        vec![spec("template", true), spec("cpu", true), spec("json", false), spec("user", true)]
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn normalizes_as_go_reads_flags() {
        let args = strings(&[
            "metald-host",
            "-template=high-cpu",
            "-cpu",
            "8",
            "-v",
            "-json",
            "--user",
            "-odd-but-valid",
            "create-and-boot",
            "--",
            "-cpu",
        ]);
        assert_eq!(
            normalize(args, &specs()),
            strings(&[
                "metald-host",
                "--template=high-cpu",
                "--cpu=8",
                "-v",
                "--json",
                "--user=-odd-but-valid",
                "create-and-boot",
                "--",
                "-cpu",
            ])
        );
        // A bool never takes the next argument.
        assert_eq!(
            normalize(strings(&["m", "-json", "false", "list"]), &specs()),
            strings(&["m", "--json", "false", "list"])
        );
        assert_eq!(normalize(strings(&["m", "-json=t"]), &specs()), strings(&["m", "--json=t"]));
        assert_eq!(normalize(strings(&["m", "list", "-cpu"]), &specs()), strings(&["m", "list", "--cpu"]));
        assert_eq!(normalize(strings(&["m", "-nope", "-"]), &specs()), strings(&["m", "-nope", "-"]));
    }
}
