//! Decoder messages in the apiserver's words.
//!
//! serde says `invalid type: string "ten", expected i64`; a Kubernetes user knows
//! `Invalid value: "ten": must be of type integer`, the shape the apiserver gives a field
//! that does not match its CRD's schema. This module reads serde's few message shapes
//! (serde's `Unexpected` and `Expected` texts, and serde_json's) back into a value, as
//! the user wrote it, and the JSON type the field must have. A message it does not know
//! (a syntax error) is kept as it is.

use super::field::{FieldError, Path};

/// The field error for decoder message `msg` at `field`.
pub(crate) fn field_error(field: Path, msg: &str) -> FieldError {
    if let Some(rest) = msg.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.rsplit_once(", expected ")
    {
        return wrong_type(field, found, expected);
    }
    if let Some(rest) = msg.strip_prefix("invalid value: ")
        && let Some((found, expected)) = rest.rsplit_once(", expected ")
    {
        return FieldError::wrong_type(field, value(found), out_of_range(expected));
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        let supported: Vec<&str> = backticked(expected).collect();
        let found = backticked(found).next().unwrap_or(found);
        return FieldError::not_supported(field, found, &supported);
    }
    if let Some(name) = msg.strip_prefix("missing field ") {
        let name = backticked(name).next().unwrap_or(name);
        return FieldError::required(field.child(name), "");
    }
    FieldError::type_invalid(field, msg)
}

/// A root that is not an object: only its JSON type is known (`array`, `string`, ...).
pub(crate) fn not_an_object(found: &str) -> FieldError {
    FieldError::wrong_type(
        Path::new(""),
        None,
        format!("must be of type object, not {found}"),
    )
}

fn wrong_type(field: Path, found: &str, expected: &str) -> FieldError {
    let want = json_type(expected);
    let detail = match (want, beyond_i64(found)) {
        // An integer beyond i64 reaches the decoder as a float: it is the range that is wrong.
        ("integer", true) => out_of_range(expected),
        (want, _) => match (value(found), json_type_of(found)) {
            (None, Some(found)) => format!("must be of type {want}, not {found}"),
            _ => format!("must be of type {want}"),
        },
    };
    FieldError::wrong_type(field, value(found), detail)
}

/// What a number out of `expected`'s range should have been.
fn out_of_range(expected: &str) -> String {
    match expected {
        "i64" => format!("must be an integer from {} to {}", i64::MIN, i64::MAX),
        other => format!("must be of type {}", json_type(other)),
    }
}

/// The JSON Schema type serde's `expected` text names (`i64`, `a string`, `an object`).
fn json_type(expected: &str) -> &str {
    match expected {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" => "integer",
        "f32" | "f64" => "number",
        "a string" | "a borrowed string" | "a character" => "string",
        "a boolean" => "boolean",
        "a sequence" => "array",
        "an object" | "a map" => "object",
        s if s.starts_with("struct ") => "object",
        other => other,
    }
}

/// The JSON type of serde's `Unexpected` text, for values it does not print.
fn json_type_of(found: &str) -> Option<&'static str> {
    match found {
        "sequence" => Some("array"),
        "map" => Some("object"),
        _ => None,
    }
}

/// The value in serde's `Unexpected` text, as JSON: `string "ten"` is `"ten"`, integer
/// `` `7` `` is `7`, `unit value` is `null`. Arrays and objects are not in the text.
fn value(found: &str) -> Option<String> {
    if let Some(quoted) = found.strip_prefix("string ") {
        return unescape_debug(quoted).map(|s| serde_json::Value::String(s).to_string());
    }
    if found == "unit value" || found == "null" {
        return Some("null".to_owned());
    }
    if let Some(f) = integral_float(found) {
        return Some(f);
    }
    ["integer ", "floating point ", "boolean "]
        .iter()
        .find_map(|kind| found.strip_prefix(kind))
        .and_then(|v| backticked(v).next())
        .map(str::to_owned)
}

/// A float with nothing after the point, printed as an integer: serde_json reads an
/// integer beyond i64 as a float and prints it `1e20`; the user wrote
/// `100000000000000000000`. The shortest digits are kept (not the float's exact
/// expansion), which is what the user wrote for any integer with up to 17 digits before
/// its trailing zeros.
fn integral_float(found: &str) -> Option<String> {
    let text = backticked(found.strip_prefix("floating point ")?).next()?;
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let frac = frac.trim_end_matches('0');
    let zeros = usize::try_from(exp.checked_sub(i32::try_from(frac.len()).ok()?)?).ok()?;
    let digits = [int, frac].concat();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || zeros > 400 {
        return None;
    }
    let digits = match digits.trim_start_matches('0') {
        "" => "0",
        d => d,
    };
    Some(format!("{sign}{digits}{}", "0".repeat(zeros)))
}

/// Whether `found` is a number too large for an i64, which serde_json reads as a float.
fn beyond_i64(found: &str) -> bool {
    integral_float(found)
        .and_then(|digits| digits.parse::<f64>().ok())
        .is_some_and(|f| f.abs() >= 2f64.powi(63))
}

/// The `` `quoted` `` names in serde's text.
fn backticked(s: &str) -> impl Iterator<Item = &str> {
    s.split('`').skip(1).step_by(2)
}

/// Reads back a string Rust's `{:?}` printed: `"a\"b\u{7f}"`.
fn unescape_debug(quoted: &str) -> Option<String> {
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            '0' => '\0',
            'u' => {
                let hex: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
            }
            other => other,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(msg: &str) -> String {
        field_error(Path::new("f"), msg).to_string()
    }

    #[test]
    fn wrong_types_read_as_the_apiserver_writes_them() {
        for (serde, kubernetes) in [
            (
                r#"invalid type: string "ten", expected i64"#,
                r#"f: Invalid value: "ten": must be of type integer"#,
            ),
            (
                "invalid type: integer `7`, expected a string",
                "f: Invalid value: 7: must be of type string",
            ),
            (
                "invalid type: floating point `1.5`, expected i64",
                "f: Invalid value: 1.5: must be of type integer",
            ),
            (
                "invalid type: boolean `true`, expected a sequence",
                "f: Invalid value: true: must be of type array",
            ),
            (
                "invalid type: null, expected a string",
                "f: Invalid value: null: must be of type string",
            ),
            (
                "invalid type: sequence, expected an object",
                "f: Invalid value: must be of type object, not array",
            ),
            (
                "invalid type: map, expected a string",
                "f: Invalid value: must be of type string, not object",
            ),
        ] {
            assert_eq!(words(serde), kubernetes, "{serde}");
        }
    }

    #[test]
    fn integers_beyond_i64_are_echoed_as_written() {
        assert_eq!(
            words("invalid type: floating point `1e20`, expected i64"),
            "f: Invalid value: 100000000000000000000: must be an integer from -9223372036854775808 to 9223372036854775807"
        );
        assert_eq!(
            words("invalid value: integer `10000000000000000000`, expected i64"),
            "f: Invalid value: 10000000000000000000: must be an integer from -9223372036854775808 to 9223372036854775807"
        );
        // Within i64's range, an integral float is a number of the wrong type.
        assert_eq!(
            words("invalid type: floating point `-3.0`, expected i64"),
            "f: Invalid value: -3: must be of type integer"
        );
        assert_eq!(
            words("invalid type: floating point `-1.25e+300`, expected a string"),
            format!(
                "f: Invalid value: -125{}: must be of type string",
                "0".repeat(298)
            )
        );
        // A fraction is printed as serde_json read it.
        assert_eq!(
            words("invalid type: floating point `1.5e-7`, expected i64"),
            "f: Invalid value: 1.5e-7: must be of type integer"
        );
    }

    #[test]
    fn strings_are_echoed_as_json() {
        let msg = format!(
            "invalid type: string {:?}, expected i64",
            "a\"b\n\u{7f}é, expected x"
        );
        assert_eq!(
            words(&msg),
            "f: Invalid value: \"a\\\"b\\n\u{7f}é, expected x\": must be of type integer"
        );
    }

    #[test]
    fn variants_and_missing_fields_use_their_own_kinds() {
        assert_eq!(
            words("unknown variant `Prepp`, expected one of `Prep`, `Abort`"),
            r#"f: Unsupported value: "Prepp": supported values: "Prep", "Abort""#
        );
        assert_eq!(words("missing field `name`"), "f.name: Required value");
    }

    #[test]
    fn other_messages_are_kept() {
        assert_eq!(
            words("EOF while parsing a value"),
            "f: Invalid value: EOF while parsing a value"
        );
        assert_eq!(
            not_an_object("string").to_string(),
            "Invalid value: must be of type object, not string"
        );
    }
}
