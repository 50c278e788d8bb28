//! `ibgu-webhook`: the admission guard for OpenShift TALM's `ImageBasedGroupUpgrade`.
//!
//! TALM upgrades fleets of single-node OpenShift clusters through one
//! `ImageBasedGroupUpgrade` (`lcm.openshift.io/v1alpha1`) on the hub. A wrong plan — an
//! unsupported action combination, an edited or removed step, a step added while one is
//! still running — can derail a rollout across thousands of clusters, and upstream's CRD
//! rules have gaps. This crate decides, for every CREATE and UPDATE, whether the change is
//! safe (validating) and what defaults it needs (mutating).
//!
//! The layers, from the inside out:
//!
//! - [`policy`]: the pure decision, [`policy::validate`] and [`policy::mutate`], over the
//!   typed model in [`ibgu`]. One module per rule family: [`plan`], [`rollout`],
//!   [`ibu_spec`], [`immutable`], [`metadata`], [`pull_secret`]; [`status`] reads TALM's
//!   status into the summary the update rules need. Errors are
//!   apimachinery-style [`field`] errors.
//! - [`admission`]: AdmissionReview v1 in and out, around the policy.
//! - [`check`]: the offline manifest linter behind `ibgu-webhook check`.

pub mod action;
pub mod admission;
pub mod certs;
pub mod check;
pub mod field;
pub mod hub;
pub mod ibgu;
pub mod ibu_spec;
pub mod immutable;
pub mod metadata;
pub mod metrics;
mod object;
pub mod patch;
pub mod plan;
pub mod policy;
pub mod pull_secret;
pub mod rollout;
pub mod server;
pub mod status;
pub mod tls;
