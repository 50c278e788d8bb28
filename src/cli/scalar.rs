//! A YAML scalar as kubectl reads it: resolved as go-yaml v2 resolves it (YAML 1.1:
//! `yes`/`no`/`on`/`off` are booleans, `010` is octal, `1e3` a float, `_` ignored in
//! numbers), turned into JSON as sigs.k8s.io/yaml does, then read back as kubectl reads
//! that JSON before it sends the object (a number that is a whole int64 is an integer,
//! any other number a float64). So `maxConcurrency: 1.0` arrives as `1`, and
//! `version: yes` as `true`.
//!
//! Read from go-yaml v2's `resolve.go` and `decode.go` (v2.4.0, which sigs.k8s.io/yaml
//! forks), sigs.k8s.io/yaml's `yaml.go`, and checked against kubectl 1.32
//! (`kubectl label --local -f FILE k=v -o json` prints what it would send). Newer
//! sigs.k8s.io/yaml releases also read integers past uint64 as big integers; kubectl
//! 1.32's fork does not, and reads them as strings, as here.

use base64::Engine as _;
use serde_json::{Number, Value};

const CORE: &str = "tag:yaml.org,2002:";

/// A scalar as go-yaml resolves it into an `interface{}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    Null,
    Bool(bool),
    /// Go's `int`.
    Int(i64),
    /// Go's `uint64`: only for values past `int64`.
    Uint(u64),
    Float(f64),
    Str(String),
}

/// Resolves a scalar's text: `tag` is its full tag (`tag:yaml.org,2002:int`), if it has
/// one; `plain` whether it was written unquoted (only plain untagged scalars are typed by
/// their content). The error is go-yaml's.
pub(crate) fn resolve(tag: Option<&str>, text: &str, plain: bool) -> Result<Resolved, String> {
    let tag = tag.unwrap_or("");
    if tag.is_empty() && !plain {
        return Ok(Resolved::Str(text.to_owned()));
    }
    if tag == "tag:yaml.org,2002:binary" {
        return binary(text);
    }
    let short = tag.strip_prefix(CORE);
    if !tag.is_empty()
        && !matches!(
            short,
            Some("str" | "bool" | "int" | "float" | "null" | "timestamp")
        )
    {
        // A tag go-yaml does not resolve (`!custom`, `!`, `!!map`): the text, as a string.
        return Ok(Resolved::Str(text.to_owned()));
    }
    let (rtag, value) = if short == Some("str") {
        ("str", Resolved::Str(text.to_owned()))
    } else {
        by_content(text, tag.is_empty() || short == Some("timestamp"))
    };
    match (short, rtag) {
        (None, _) | (Some("str"), _) => Ok(value),
        (Some(t), r) if t == r => Ok(value),
        // `!!float 5`: an int asked to be a float is one.
        (Some("float"), "int") => match value {
            Resolved::Int(i) => Ok(Resolved::Float(i as f64)),
            _ => Err(format!("cannot decode !!{rtag} `{text}` as a !!float")),
        },
        (Some(t), r) => Err(format!("cannot decode !!{r} `{text}` as a !!{t}")),
    }
}

/// go-yaml's `resolve` for a scalar without a tag or with a core one: the tag it reads
/// the text as, and the value.
fn by_content(text: &str, timestamps: bool) -> (&'static str, Resolved) {
    let string = ("str", Resolved::Str(text.to_owned()));
    let Some(&first) = text.as_bytes().first() else {
        return ("null", Resolved::Null);
    };
    let hint = match first {
        b'+' | b'-' | b'0'..=b'9' => b'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => b'M',
        b'.' => b'.',
        _ => return string,
    };
    if let Some(known) = named(text) {
        return known;
    }
    match hint {
        // Go's ParseFloat on the text as written: `_` only between digits.
        b'.' => match between_digits(text)
            .then(|| go_float(&text.replace('_', "")))
            .flatten()
        {
            Some(f) => ("float", Resolved::Float(f)),
            None => string,
        },
        b'D' => {
            if timestamps && is_timestamp(text) {
                // Kept as its text: go-yaml hands timestamps to an `interface{}` as strings.
                return ("timestamp", Resolved::Str(text.to_owned()));
            }
            let plain = text.replace('_', "");
            if let Some(i) = go_int(&plain) {
                ("int", Resolved::Int(i))
            } else if let Some(u) = go_uint(&plain) {
                ("int", Resolved::Uint(u))
            } else if let Some(f) = yaml_float(&plain).then(|| go_float(&plain)).flatten() {
                ("float", Resolved::Float(f))
            } else {
                string
            }
        }
        _ => string,
    }
}

/// go-yaml's table of names: YAML 1.1 booleans, nulls, infinities and NaN.
fn named(text: &str) -> Option<(&'static str, Resolved)> {
    let value = match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Resolved::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Resolved::Bool(false)
        }
        "~" | "null" | "Null" | "NULL" => return Some(("null", Resolved::Null)),
        ".nan" | ".NaN" | ".NAN" => Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Resolved::Float(f64::NEG_INFINITY),
        _ => return None,
    };
    let tag = if matches!(value, Resolved::Bool(_)) {
        "bool"
    } else {
        "float"
    };
    Some((tag, value))
}

/// Go's `strconv.ParseUint(s, 0, 64)`: `0x`, `0o`, `0b` and a leading `0` (octal) pick the
/// base; no sign.
fn go_uint(s: &str) -> Option<u64> {
    let (radix, digits) = match s.as_bytes() {
        [b'0', p, _, ..] if p.eq_ignore_ascii_case(&b'x') => (16, &s[2..]),
        [b'0', p, _, ..] if p.eq_ignore_ascii_case(&b'o') => (8, &s[2..]),
        [b'0', p, _, ..] if p.eq_ignore_ascii_case(&b'b') => (2, &s[2..]),
        [b'0'] => return Some(0),
        [b'0', ..] => (8, &s[1..]),
        [] => return None,
        _ => (10, s),
    };
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Go's `strconv.ParseInt(s, 0, 64)`: one sign, then as `ParseUint`, within int64.
fn go_int(s: &str) -> Option<i64> {
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = i128::from(go_uint(rest)?);
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// go-yaml's float syntax: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml_float(s: &str) -> bool {
    fn digits(s: &str) -> (usize, &str) {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        (n, &s[n..])
    }
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let rest = if let Some(fraction) = s.strip_prefix('.') {
        let (n, rest) = digits(fraction);
        if n == 0 {
            return false;
        }
        rest
    } else {
        let (n, rest) = digits(s);
        if n == 0 {
            return false;
        }
        rest.strip_prefix('.').map_or(rest, |f| digits(f).1)
    };
    match rest.strip_prefix(['e', 'E']) {
        None => rest.is_empty(),
        Some(exponent) => {
            let (n, rest) = digits(exponent.strip_prefix(['-', '+']).unwrap_or(exponent));
            n > 0 && rest.is_empty()
        }
    }
}

/// Go's `strconv.ParseFloat(s, 64)` on decimal text: out of range is an error, not an
/// infinity; Rust's parser reads the same decimal syntax (and refuses `inf`-like words
/// only go-yaml's table names).
fn go_float(s: &str) -> Option<f64> {
    if s.bytes()
        .any(|b| b.is_ascii_alphabetic() && !matches!(b, b'e' | b'E'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Whether every `_` in `s` has a digit on each side.
fn between_digits(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'_'
            || (i > 0 && b[i - 1].is_ascii_digit() && b.get(i + 1).is_some_and(u8::is_ascii_digit))
    })
}

/// go-yaml's check for `!!timestamp` (and for untagged text, which stays a string either
/// way): `YYYY-M-D` on the calendar, optionally followed by a time (`T`, `t` or a space,
/// then `h:m:s`, a fraction and a zone).
fn is_timestamp(s: &str) -> bool {
    let number = |p: &str, range: std::ops::RangeInclusive<u32>| {
        (1..=2).contains(&p.len())
            && p.bytes().all(|c| c.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| range.contains(&n))
    };
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let fields: Vec<&str> = date.splitn(3, '-').collect();
    let [year, month, day] = fields[..] else {
        return false;
    };
    let (Ok(y), true) = (
        year.parse::<u32>(),
        year.len() == 4 && number(month, 1..=12),
    ) else {
        return false;
    };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match month.parse::<u32>().unwrap_or(0) {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !year.bytes().all(|c| c.is_ascii_digit()) || !number(day, 1..=days) {
        return false;
    }
    let Some(time) = time else {
        return true;
    };
    let clock = time.split(['Z', '+', '-']).next().unwrap_or("");
    let hms: Vec<&str> = clock.split('.').next().unwrap_or("").split(':').collect();
    matches!(hms[..], [h, m, s] if number(h, 0..=23) && number(m, 0..=59) && number(s, 0..=59))
}

/// `!!binary`: base64 (line breaks ignored), the bytes as a Go string, which JSON then
/// writes with U+FFFD for each byte that is not UTF-8.
fn binary(text: &str) -> Result<Resolved, String> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let clean: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    let bytes = engine
        .decode(clean)
        .map_err(|_| "!!binary value contains invalid base64 data".to_owned())?;
    let mut s = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        s.push_str(chunk.valid());
        s.extend(std::iter::repeat_n('\u{fffd}', chunk.invalid().len()));
    }
    Ok(Resolved::Str(s))
}

impl Resolved {
    /// The JSON value kubectl sends: a float that is a whole int64 becomes an integer, a
    /// uint64 past int64 a float; NaN and infinities have no JSON (Go's encoder's error).
    pub(crate) fn into_json(self) -> Result<Value, String> {
        Ok(match self {
            Resolved::Null => Value::Null,
            Resolved::Bool(b) => Value::Bool(b),
            Resolved::Int(i) => Value::from(i),
            Resolved::Uint(u) => number(u as f64)?,
            Resolved::Float(f) => number(f)?,
            Resolved::Str(s) => Value::String(s),
        })
    }

    /// The JSON key sigs.k8s.io/yaml makes of a mapping key, or its error.
    pub(crate) fn into_key(self, value: &Value) -> Result<String, String> {
        Ok(match self {
            Resolved::Str(s) => s,
            Resolved::Int(i) => i.to_string(),
            Resolved::Bool(b) => b.to_string(),
            Resolved::Float(f) => float_key(f),
            Resolved::Uint(u) => {
                return Err(format!(
                    "unsupported map key of type: uint64, key: {u:#x}, value: {}",
                    go_syntax(value)
                ));
            }
            Resolved::Null => {
                return Err(format!(
                    "unsupported map key of type: %!s(<nil>), key: <nil>, value: {}",
                    go_syntax(value)
                ));
            }
        })
    }
}

/// A float64 as kubectl's JSON round trip leaves it.
pub(crate) fn number(f: f64) -> Result<Value, String> {
    if f.is_nan() {
        return Err("json: unsupported value: NaN".to_owned());
    }
    if f.is_infinite() {
        let sign = if f > 0.0 { "+" } else { "-" };
        return Err(format!("json: unsupported value: {sign}Inf"));
    }
    // Go writes a whole float below 1e21 as its shortest digits padded with zeros
    // (4611686018427387904.0 as 4611686018427388000, as Rust's `Display` does), and
    // kubectl reads that text back as an int64 when it fits one.
    if f.fract() == 0.0
        && f.abs() < 1e21
        && let Ok(i) = f.to_string().parse::<i64>()
    {
        return Ok(Value::from(i));
    }
    Ok(Number::from_f64(f).map_or(Value::Null, Value::Number))
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)` (sigs.k8s.io/yaml's float keys), with
/// go-yaml's names for infinities and NaN.
fn float_key(f: f64) -> String {
    if f.is_nan() {
        return ".nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    let short = f as f32;
    let sign = if short.is_sign_negative() { "-" } else { "" };
    if short == 0.0 {
        return format!("{sign}0");
    }
    // Rust's `{:e}` gives the shortest digits that read back as the same f32.
    let e = format!("{:e}", short.abs());
    let (mantissa, exponent) = e.split_once('e').unwrap_or((&e, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exponent.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1;
    let digit = |i: i32| {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.as_bytes().get(i))
            .map_or('0', |&b| char::from(b))
    };
    let whole: String = if point > 0 {
        (0..point).map(digit).collect()
    } else {
        "0".to_owned()
    };
    let decimals = i32::try_from(digits.len()).unwrap_or(0) - point;
    let fraction: String = (0..decimals.max(0)).map(|i| digit(point + i)).collect();
    let dot = if fraction.is_empty() { "" } else { "." };
    format!("{sign}{whole}{dot}{fraction}")
}

/// A value as Go's `%#v` prints what go-yaml decoded (for the words of its errors).
pub(crate) fn go_syntax(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(go_syntax).collect();
            format!("[]interface {{}}{{{}}}", items.join(", "))
        }
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}:{}", go_syntax(&Value::String(k.clone())), go_syntax(v)))
                .collect();
            format!(
                "map[interface {{}}]interface {{}}{{{}}}",
                entries.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plain(text: &str) -> Result<Value, String> {
        resolve(None, text, true)?.into_json()
    }

    fn tagged(tag: &str, text: &str) -> Result<Value, String> {
        resolve(Some(&format!("{CORE}{tag}")), text, true)?.into_json()
    }

    /// Each spelling and what kubectl 1.32 sends for it (`kubectl label --local -o json`).
    #[test]
    fn every_spelling_reads_as_kubectl_sends_it() {
        let table: &[(&str, Value)] = &[
            // Floats that are whole numbers are sent as integers.
            ("1.0", json!(1)),
            ("5.", json!(5)),
            ("60.0", json!(60)),
            ("1e3", json!(1000)),
            ("6E1", json!(60)),
            ("-0.0", json!(0)),
            ("1e21", json!(1e21)),
            ("1.5", json!(1.5)),
            (".5", json!(0.5)),
            ("+.5", json!(0.5)),
            ("-.5", json!(-0.5)),
            ("09.5", json!(9.5)),
            ("1.5_0", json!(1.5)),
            ("1e-400", json!(0)),
            (".5_0", json!(0.5)),
            (".5e1_0", json!(5_000_000_000_i64)),
            (".5E+3", json!(500)),
            ("._5", json!("._5")),
            (".5_", json!(".5_")),
            (".e5", json!(".e5")),
            // Integers: a leading 0 is octal, unless a digit is not octal (then a float).
            ("010", json!(8)),
            ("0777", json!(511)),
            ("08", json!(8)),
            ("0_1", json!(1)),
            ("0", json!(0)),
            ("-0", json!(0)),
            ("+12", json!(12)),
            ("1_000", json!(1000)),
            ("1__0", json!(10)),
            ("1_", json!(1)),
            ("0x1F", json!(31)),
            ("0X1F", json!(31)),
            ("+0x10", json!(16)),
            ("-0x10", json!(-16)),
            ("0o17", json!(15)),
            ("0O17", json!(15)),
            ("0b101", json!(5)),
            ("0B11", json!(3)),
            ("-0b11", json!(-3)),
            ("9223372036854775807", json!(i64::MAX)),
            ("-9223372036854775808", json!(i64::MIN)),
            // Past int64: a uint64, then a float64 once kubectl reads its JSON back.
            ("9223372036854775808", json!(9_223_372_036_854_775_808.0)),
            ("12345678901234567890", json!(12_345_678_901_234_567_000.0)),
            ("0x8000000000000000", json!(9_223_372_036_854_775_808.0)),
            ("-9223372036854775809", json!(-9_223_372_036_854_775_808.0)),
            ("4611686018427387904", json!(4_611_686_018_427_387_904_i64)),
            (
                "4611686018427387904.0",
                json!(4_611_686_018_427_388_000_i64),
            ),
            // Not numbers: strings.
            ("0x", json!("0x")),
            ("0o", json!("0o")),
            ("0b102", json!("0b102")),
            ("_1", json!("_1")),
            ("1e400", json!("1e400")),
            ("0xffffffffffffffffffff", json!("0xffffffffffffffffffff")),
            ("1.2.3", json!("1.2.3")),
            ("4.20.0", json!("4.20.0")),
            ("2024-01-02", json!("2024-01-02")),
            (
                "2001-12-14t21:59:43.10-05:00",
                json!("2001-12-14t21:59:43.10-05:00"),
            ),
            ("-", json!("-")),
            ("+", json!("+")),
            (".", json!(".")),
            ("inf", json!("inf")),
            ("nan", json!("nan")),
            ("<<", json!("<<")),
            // YAML 1.1 booleans and nulls.
            ("yes", json!(true)),
            ("Yes", json!(true)),
            ("YES", json!(true)),
            ("y", json!(true)),
            ("Y", json!(true)),
            ("on", json!(true)),
            ("On", json!(true)),
            ("ON", json!(true)),
            ("true", json!(true)),
            ("True", json!(true)),
            ("TRUE", json!(true)),
            ("no", json!(false)),
            ("No", json!(false)),
            ("NO", json!(false)),
            ("n", json!(false)),
            ("N", json!(false)),
            ("off", json!(false)),
            ("Off", json!(false)),
            ("OFF", json!(false)),
            ("false", json!(false)),
            ("False", json!(false)),
            ("FALSE", json!(false)),
            ("tRue", json!("tRue")),
            ("yES", json!("yES")),
            ("~", json!(null)),
            ("null", json!(null)),
            ("Null", json!(null)),
            ("NULL", json!(null)),
            ("", json!(null)),
            ("nULL", json!("nULL")),
        ];
        for (text, want) in table {
            assert_eq!(plain(text).as_ref(), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn quoted_and_block_scalars_are_strings() {
        for text in ["yes", "1.0", "010", "~", ""] {
            assert_eq!(
                resolve(None, text, false),
                Ok(Resolved::Str(text.to_owned()))
            );
        }
    }

    #[test]
    fn tags_as_go_yaml_reads_them() {
        assert_eq!(tagged("float", "5"), Ok(json!(5)));
        assert_eq!(tagged("float", "1e3"), Ok(json!(1000)));
        assert_eq!(tagged("int", "0x10"), Ok(json!(16)));
        assert_eq!(tagged("str", "5"), Ok(json!("5")));
        assert_eq!(tagged("str", "yes"), Ok(json!("yes")));
        assert_eq!(tagged("bool", "yes"), Ok(json!(true)));
        assert_eq!(tagged("null", ""), Ok(json!(null)));
        assert_eq!(tagged("timestamp", "2001-12-14"), Ok(json!("2001-12-14")));
        assert_eq!(tagged("timestamp", "2000-2-29"), Ok(json!("2000-2-29")));
        assert_eq!(
            tagged("timestamp", "2001-12-14t21:59:43.10-05:00"),
            Ok(json!("2001-12-14t21:59:43.10-05:00"))
        );
        // A quoted scalar with a tag is read by its tag.
        assert_eq!(
            resolve(Some(&format!("{CORE}bool")), "yes", false),
            Ok(Resolved::Bool(true))
        );
        // Tags go-yaml does not resolve leave the text a string.
        for tag in [
            "!custom",
            "!",
            "tag:yaml.org,2002:map",
            "tag:yaml.org,2002:merge",
        ] {
            assert_eq!(resolve(Some(tag), "5", true), Ok(Resolved::Str("5".into())));
        }
        for (tag, text, error) in [
            ("int", "foo", "cannot decode !!str `foo` as a !!int"),
            ("int", "1.0", "cannot decode !!float `1.0` as a !!int"),
            ("float", "yes", "cannot decode !!bool `yes` as a !!float"),
            (
                "float",
                "12345678901234567890",
                "cannot decode !!int `12345678901234567890` as a !!float",
            ),
            ("null", "x", "cannot decode !!str `x` as a !!null"),
            (
                "timestamp",
                "foo",
                "cannot decode !!str `foo` as a !!timestamp",
            ),
            (
                "timestamp",
                "2001-13-14",
                "cannot decode !!str `2001-13-14` as a !!timestamp",
            ),
        ] {
            assert_eq!(tagged(tag, text), Err(error.to_owned()), "!!{tag} {text}");
        }
        assert_eq!(
            tagged("float", ".nan"),
            Err("json: unsupported value: NaN".into())
        );
        assert_eq!(plain(".inf"), Err("json: unsupported value: +Inf".into()));
        assert_eq!(plain("-.Inf"), Err("json: unsupported value: -Inf".into()));
    }

    #[test]
    fn binary_is_base64_with_line_breaks_ignored() {
        assert_eq!(tagged("binary", "aGVsbG8="), Ok(json!("hello")));
        assert_eq!(tagged("binary", "aGVs\nbG8=\n"), Ok(json!("hello")));
        // Bytes that are not UTF-8: one U+FFFD each, as Go's JSON encoder writes them.
        assert_eq!(
            tagged("binary", "//79"),
            Ok(json!("\u{fffd}\u{fffd}\u{fffd}"))
        );
        assert_eq!(
            tagged("binary", "aGVsbG8"),
            Err("!!binary value contains invalid base64 data".into())
        );
    }

    #[test]
    fn keys_as_sigs_k8s_io_yaml_writes_them() {
        let key = |text: &str| resolve(None, text, true).and_then(|r| r.into_key(&json!("v")));
        for (text, want) in [
            ("a", "a"),
            ("yes", "true"),
            ("n", "false"),
            ("0x10", "16"),
            ("1.0", "1"),
            ("1.5", "1.5"),
            ("1e5", "100000"),
            ("1e6", "1e+06"),
            ("1234567.0", "1.234567e+06"),
            ("100000.5", "100000.5"),
            ("0.0001", "0.0001"),
            ("0.00001", "1e-05"),
            ("3.14159265358979", "3.1415927"),
            ("1e21", "1e+21"),
            ("-0.0", "-0"),
            (".inf", ".inf"),
            ("-.inf", "-.inf"),
            (".nan", ".nan"),
        ] {
            assert_eq!(key(text), Ok(want.to_owned()), "{text:?}");
        }
        assert_eq!(
            key("12345678901234567890"),
            Err(
                "unsupported map key of type: uint64, key: 0xab54a98ceb1f0ad2, value: \"v\"".into()
            )
        );
        assert_eq!(
            resolve(None, "~", true).and_then(|r| r.into_key(&json!([1, "a"]))),
            Err("unsupported map key of type: %!s(<nil>), key: <nil>, value: []interface {}{1, \"a\"}".into())
        );
    }
}
