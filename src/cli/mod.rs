//! What the offline commands do beyond the shared decision: `check` lints manifests the
//! way the apiserver would admit them, `next` says what may be appended to a live plan,
//! `certs` makes certificates for static installs (and `serve` its development
//! certificate).

pub mod certs;
pub mod check;
pub mod next;
