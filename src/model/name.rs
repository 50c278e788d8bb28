//! Kubernetes object names, checked as apimachinery's `validation.IsDNS1123Subdomain`,
//! `IsDNS1123Label`, `IsQualifiedName` and `IsValidLabelValue` check them, with their
//! messages: Secret and ConfigMap names are subdomains, namespaces labels; label keys,
//! annotation keys and finalizers qualified names.
//!
//! ```
//! use ibgu_webhook::model::name;
//!
//! assert!(name::dns1123_subdomain("seed-pull-secret").is_empty());
//! assert!(name::dns1123_subdomain("<seed_pull_secret>")[0].starts_with("a lowercase RFC 1123"));
//! assert!(name::dns1123_label("openshift.adp").len() == 1);
//! assert!(name::qualified_name("lcm.openshift.io/ibgu").is_empty());
//! assert!(name::label_value("4.20.0").is_empty());
//! ```

const LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric \
characters or '-', and must start and end with an alphanumeric character";
const LABEL_MAX: usize = 63;
const SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const SUBDOMAIN_MAX: usize = 253;
const QUALIFIED_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must \
start and end with an alphanumeric character";
const QUALIFIED_EXAMPLES: [&str; 3] = ["MyName", "my.name", "123-abc"];
const QUALIFIED_MAX: usize = 63;
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric \
characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_MAX: usize = 63;

/// What is wrong with `name` as a DNS-1123 subdomain (what Secrets and ConfigMaps are
/// named by), in apimachinery's words; empty when it is one.
pub fn dns1123_subdomain(name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if name.len() > SUBDOMAIN_MAX {
        problems.push(format!("must be no more than {SUBDOMAIN_MAX} characters"));
    }
    if !name.split('.').all(is_label) {
        problems.push(regex_error(SUBDOMAIN_MSG, SUBDOMAIN_FMT, &["example.com"]));
    }
    problems
}

/// What is wrong with `name` as a DNS-1123 label (what namespaces are named by), in
/// apimachinery's words; empty when it is one.
pub fn dns1123_label(name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if name.len() > LABEL_MAX {
        problems.push(format!("must be no more than {LABEL_MAX} characters"));
    }
    if !is_label(name) {
        problems.push(regex_error(LABEL_MSG, LABEL_FMT, &["my-name", "123-abc"]));
    }
    problems
}

/// What is wrong with `name` as a qualified name (what label keys, annotation keys and
/// finalizers are), an optional DNS-1123 subdomain and `/` before a name part of at most
/// 63 characters, in apimachinery's words; empty when it is one.
pub fn qualified_name(name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let part = match name.split('/').collect::<Vec<_>>()[..] {
        [part] => part,
        [prefix, part] => {
            if prefix.is_empty() {
                problems.push("prefix part must be non-empty".to_owned());
            } else {
                problems.extend(
                    dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|p| format!("prefix part {p}")),
                );
            }
            part
        }
        _ => {
            let shape = regex_error(QUALIFIED_MSG, QUALIFIED_FMT, &QUALIFIED_EXAMPLES);
            return vec![format!(
                "a qualified name {shape} with an optional DNS subdomain prefix and '/' \
                 (e.g. 'example.com/MyName')"
            )];
        }
    };
    if part.is_empty() {
        problems.push("name part must be non-empty".to_owned());
    } else if part.len() > QUALIFIED_MAX {
        problems.push(format!(
            "name part must be no more than {QUALIFIED_MAX} characters"
        ));
    }
    if !is_qualified_part(part) {
        let shape = regex_error(QUALIFIED_MSG, QUALIFIED_FMT, &QUALIFIED_EXAMPLES);
        problems.push(format!("name part {shape}"));
    }
    problems
}

/// What is wrong with `value` as a label value (empty, or a qualified name's name part),
/// in apimachinery's words; empty when it is one.
pub fn label_value(value: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if value.len() > LABEL_VALUE_MAX {
        problems.push(format!("must be no more than {LABEL_VALUE_MAX} characters"));
    }
    if !value.is_empty() && !is_qualified_part(value) {
        problems.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    problems
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, whatever its length.
fn is_qualified_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, whatever its length.
fn is_label(s: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            alnum(first) && alnum(last) && bytes.iter().all(|&b| alnum(b) || b == b'-')
        }
        _ => false,
    }
}

/// apimachinery's `RegexError`: the message, its examples and the regex. Each example is
/// followed by `, ` and the next one preceded by ` or `, hence its double spaces.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let examples: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!(
        "{msg} (e.g. {}regex used for validation is '{fmt}')",
        examples.join(" or ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains() {
        for ok in ["a", "seed-pull-secret", "a.b-c.d", "0", &"a".repeat(253)] {
            assert!(dns1123_subdomain(ok).is_empty(), "{ok}");
        }
        for bad in [
            "",
            "<seed_pull_secret>",
            "A",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a_b",
            "é",
        ] {
            assert_eq!(dns1123_subdomain(bad).len(), 1, "{bad}");
        }
        assert_eq!(
            dns1123_subdomain("Bad"),
            [
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
              characters, '-' or '.', and must start and end with an alphanumeric character \
              (e.g. 'example.com', regex used for validation is \
              '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ]
        );
        assert_eq!(
            dns1123_subdomain(&"a".repeat(254)),
            ["must be no more than 253 characters"]
        );
    }

    #[test]
    fn qualified_names() {
        for ok in [
            "a",
            "lcm.openshift.io/ibgu",
            "Foo_Bar.baz-1",
            "kubernetes.io/metadata.name",
            &"a".repeat(63),
            &format!("{}/{}", "a".repeat(253), "b".repeat(63)),
        ] {
            assert!(qualified_name(ok).is_empty(), "{ok}");
        }
        let shape = "must consist of alphanumeric characters, '-', '_' or '.', and must start \
            and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', \
            regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
        assert_eq!(qualified_name("-a"), [format!("name part {shape}")]);
        assert_eq!(
            qualified_name(""),
            [
                "name part must be non-empty".to_owned(),
                format!("name part {shape}")
            ]
        );
        assert_eq!(
            qualified_name(&"a".repeat(64)),
            ["name part must be no more than 63 characters"]
        );
        assert_eq!(qualified_name("/a"), ["prefix part must be non-empty"]);
        assert_eq!(
            qualified_name("a/"),
            [
                "name part must be non-empty".to_owned(),
                format!("name part {shape}")
            ]
        );
        let e = qualified_name("Example.com/a");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("prefix part a lowercase RFC 1123 subdomain must consist of"),
            "{e:?}"
        );
        assert_eq!(
            qualified_name("a/b/c"),
            [format!(
                "a qualified name {shape} with an optional DNS subdomain prefix and '/' \
                 (e.g. 'example.com/MyName')"
            )]
        );
    }

    #[test]
    fn label_values() {
        for ok in ["", "a", "4.20.0", "My_Value-1", &"a".repeat(63)] {
            assert!(label_value(ok).is_empty(), "{ok}");
        }
        assert_eq!(
            label_value("a b"),
            [
                "a valid label must be an empty string or consist of alphanumeric characters, \
                 '-', '_' or '.', and must start and end with an alphanumeric character (e.g. \
                 'MyValue',  or 'my_value',  or '12345', regex used for validation is \
                 '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
            ]
        );
        assert_eq!(
            label_value(&"a".repeat(64)),
            ["must be no more than 63 characters"]
        );
        assert_eq!(label_value(".a").len(), 1);
        assert_eq!(label_value("é").len(), 1);
    }

    #[test]
    fn labels() {
        assert!(dns1123_label("openshift-adp").is_empty());
        assert!(dns1123_label(&"a".repeat(63)).is_empty());
        assert_eq!(
            dns1123_label(&"a".repeat(64)),
            ["must be no more than 63 characters"]
        );
        assert_eq!(
            dns1123_label("a.b"),
            [
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters \
              or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  \
              or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            ]
        );
    }
}
