//! Kubernetes object names, checked as apimachinery's `validation.IsDNS1123Subdomain` and
//! `IsDNS1123Label` check them, with their messages: Secret and ConfigMap names are
//! subdomains, namespaces labels.
//!
//! ```
//! use ibgu_webhook::model::name;
//!
//! assert!(name::dns1123_subdomain("seed-pull-secret").is_empty());
//! assert!(name::dns1123_subdomain("<seed_pull_secret>")[0].starts_with("a lowercase RFC 1123"));
//! assert!(name::dns1123_label("openshift.adp").len() == 1);
//! ```

const LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric \
characters or '-', and must start and end with an alphanumeric character";
const LABEL_MAX: usize = 63;
const SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const SUBDOMAIN_MAX: usize = 253;

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

/// apimachinery's `RegexError`: the message, its examples and the regex.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let examples: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!(
        "{msg} (e.g. {}regex used for validation is '{fmt}')",
        examples.join("or ")
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
              or '-', and must start and end with an alphanumeric character (e.g. 'my-name', \
              or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            ]
        );
    }
}
