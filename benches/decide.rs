//! One admission decision on realistic reviews (`tests/data/bench/`): an UPDATE that
//! appends a third step to a finished 2-step plan, with TALM's status for 50 clusters
//! (12.5 KB) and for a fleet of 3,500 (585 KB), and a 3.8 KB CREATE that needs defaults.
//!
//! Two baselines run alongside, so figures are read as ratios from one run on a noisy
//! machine: `baseline/parse_and_encode_value` (parse the body into a generic
//! `serde_json::Value` and write it back: what a webhook built on `Value` pays before any
//! rule) and `baseline/scan_only` (serde_json skimming the body without keeping anything:
//! the floor of reading it at all). Run: `cargo bench --bench decide`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ibgu_webhook::admission::{self, Endpoint};
use ibgu_webhook::policy::Config;
use ibgu_webhook::policy::facts::Facts;

const BODY: &[u8] = include_bytes!("../tests/data/bench/update-50-clusters.json");
/// The same UPDATE with status for 3,500 clusters in both objects.
const FLEET: &[u8] = include_bytes!("../tests/data/bench/update-3500-clusters.json");
/// The load benchmark's /mutate body: a 3.8 KB CREATE whose three steps need defaults
/// and whose seedImageRef needs the seed pull secret.
const CREATE: &[u8] = include_bytes!("../tests/data/bench/create-needs-defaults.json");

/// What the server does with a body once read: parse, decide, check the reply, encode.
fn endpoint(body: &[u8], mode: Endpoint, config: &Config, hub: &Facts) -> Vec<u8> {
    let admission = admission::parse(body).expect("parse");
    let r = admission::review(&admission, mode, config, hub);
    r.check_wire(mode).expect("wire");
    r.to_review_json()
}

fn decide(c: &mut Criterion) {
    let config = Config {
        seed_pull_secret: Some("seed-pull-secret".into()),
        ..Config::default()
    };
    let hub = Facts::Offline;
    // The decision must be the real one: the appended step is allowed, nothing to patch.
    let v = admission::review_body(BODY, Endpoint::Validate, &config, &hub).expect("review");
    assert!(v.allowed && v.warnings.is_empty(), "{v:?}");
    let m = admission::review_body(BODY, Endpoint::Mutate, &config, &hub).expect("review");
    assert!(m.allowed && m.patch.is_none(), "{m:?}");

    let mut g = c.benchmark_group("update_review_12kb");
    g.throughput(Throughput::Bytes(BODY.len() as u64));
    g.bench_function("baseline/parse_and_encode_value", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(black_box(BODY)).expect("json");
            black_box(serde_json::to_vec(&v).expect("encode"))
        })
    });
    g.bench_function("baseline/scan_only", |b| {
        b.iter(|| {
            black_box(
                serde_json::from_slice::<serde::de::IgnoredAny>(black_box(BODY)).expect("json"),
            )
        })
    });
    g.bench_function("decode_only", |b| {
        b.iter(|| {
            black_box(admission::parse(black_box(BODY)).expect("parse"));
        })
    });
    for mode in [Endpoint::Validate, Endpoint::Mutate] {
        g.bench_function(format!("{mode}"), |b| {
            b.iter(|| {
                let r =
                    admission::review_body(black_box(BODY), mode, &config, &hub).expect("review");
                black_box(r.to_review_json())
            })
        });
    }
    g.bench_function("decode_validate_mutate_encode", |b| {
        b.iter(|| {
            let admission = admission::parse(black_box(BODY)).expect("parse");
            let v = admission::review(&admission, Endpoint::Validate, &config, &hub);
            let m = admission::review(&admission, Endpoint::Mutate, &config, &hub);
            black_box((v.to_review_json(), m.to_review_json()))
        })
    });
    g.finish();

    // Allowed; 30 minutes over 35 batches of 100 clusters earns rule 7's warning.
    let v = admission::review_body(FLEET, Endpoint::Validate, &config, &hub).expect("review");
    assert!(v.allowed && v.warnings.len() == 1, "{v:?}");
    endpoints(c, "update_review_585kb", FLEET, &config, &hub);

    let m = admission::review_body(CREATE, Endpoint::Mutate, &config, &hub).expect("review");
    assert!(
        m.allowed && m.patch.as_ref().is_some_and(|p| p.0.len() == 4),
        "{m:?}"
    );
    endpoints(c, "create_review_4kb", CREATE, &config, &hub);
}

/// A group for `body`: the skim beside what each endpoint does with it.
fn endpoints(c: &mut Criterion, name: &str, body: &'static [u8], config: &Config, hub: &Facts) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(body.len() as u64));
    if body.len() > 100_000 {
        // Milliseconds a sample: fewer samples keep the run short.
        g.sample_size(20);
    }
    g.bench_function("baseline/scan_only", |b| {
        b.iter(|| {
            black_box(
                serde_json::from_slice::<serde::de::IgnoredAny>(black_box(body)).expect("json"),
            )
        })
    });
    for mode in [Endpoint::Validate, Endpoint::Mutate] {
        g.bench_function(format!("{mode}"), |b| {
            b.iter(|| black_box(endpoint(black_box(body), mode, config, hub)))
        });
    }
    g.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);
