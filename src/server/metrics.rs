//! Prometheus metrics, served as OpenMetrics text on a separate plain-HTTP listener
//! (`GET /metrics` only), so scraping needs no client certificate and never competes
//! with the apiserver for the TLS port.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `ibgu_webhook_admission_requests_total` | counter | `endpoint`, `operation`, `verdict` (allowed, denied, refused = 4xx, failed = 5xx) |
//! | `ibgu_webhook_admission_duration_seconds` | histogram | `endpoint` |
//! | `ibgu_webhook_admission_in_flight` | gauge | |
//! | `ibgu_webhook_certificate_expiry_timestamp_seconds` | gauge | |
//! | `ibgu_webhook_certificate_reloads_total` | counter | |
//! | `ibgu_webhook_certificate_reload_failures_total` | counter | |
//! | `ibgu_webhook_log_lines_dropped_total` | counter | |

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use tracing_appender::non_blocking::ErrorCounter;

use super::tls::CertStore;
use crate::admission::Endpoint;

/// How a request ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// Answered, allowed.
    allowed,
    /// Answered, denied.
    denied,
    /// Not answerable: a 4xx (bad body, wrong content type, too large, timed out).
    refused,
    /// A 5xx: the reply would have broken the wire rules, or the server was busy.
    failed,
}

/// The endpoint as a label value.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
struct EndpointLabel(Endpoint);

impl EncodeLabelValue for EndpointLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.0.as_str())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: EndpointLabel,
    operation: &'static str,
    verdict: Outcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: EndpointLabel,
}

/// The registry and the metrics the server records.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<EndpointLabels, Histogram>,
    in_flight: Gauge,
}

/// Certificate figures, read from the [`CertStore`] at scrape time.
#[derive(Debug)]
struct CertCollector(Arc<CertStore>);

impl Collector for CertCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let store = &self.0;
        describe(
            &mut encoder,
            "certificate_expiry_timestamp_seconds",
            "When the serving certificate expires (unix seconds)",
            ConstGauge::new(store.not_after()),
        )?;
        describe(
            &mut encoder,
            "certificate_reloads",
            "Serving certificate pairs swapped in since start",
            ConstCounter::new(store.reloads()),
        )?;
        describe(
            &mut encoder,
            "certificate_reload_failures",
            "New serving certificate pairs refused (the previous one kept serving)",
            ConstCounter::new(store.failures()),
        )
    }
}

/// The log writer's dropped lines, read at scrape time (0 without a writer).
#[derive(Debug)]
struct LogCollector(Option<ErrorCounter>);

impl Collector for LogCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let dropped = self.0.as_ref().map_or(0, ErrorCounter::dropped_lines);
        describe(
            &mut encoder,
            "log_lines_dropped",
            "Log lines dropped because the log writer's queue was full (stderr slow or stalled)",
            ConstCounter::new(u64::try_from(dropped).unwrap_or(u64::MAX)),
        )
    }
}

/// Encodes one metric with its name and help.
fn describe(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// Decrements the in-flight gauge when dropped. Borrows the gauge rather than cloning
/// its `Arc`: one shared counter touched twice per request instead of four times.
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    /// The metrics, with the certificate figures of `certs` and the log writer's count
    /// of dropped lines.
    pub fn new(certs: Arc<CertStore>, dropped_log_lines: Option<ErrorCounter>) -> Self {
        let mut registry = Registry::with_prefix("ibgu_webhook");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "admission_requests",
            "Admission requests by endpoint, operation and verdict",
            requests.clone(),
        );
        let duration = Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
            // 50 µs to ~3 s: decisions take tens of microseconds, hub lookups milliseconds.
            Histogram::new([
                0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                0.25, 0.5, 1.0, 2.5,
            ])
        });
        registry.register(
            "admission_duration_seconds",
            "Time from reading the request to the reply, by endpoint",
            duration.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "admission_in_flight",
            "Admission requests being read or decided",
            in_flight.clone(),
        );
        registry.register_collector(Box::new(CertCollector(certs)));
        registry.register_collector(Box::new(LogCollector(dropped_log_lines)));
        Metrics {
            registry,
            requests,
            duration,
            in_flight,
        }
    }

    /// Counts a request as in flight until the guard drops.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// Records one finished request.
    pub fn record(
        &self,
        endpoint: Endpoint,
        operation: &'static str,
        verdict: Outcome,
        took: Duration,
    ) {
        let endpoint = EndpointLabel(endpoint);
        self.requests
            .get_or_create(&RequestLabels {
                endpoint,
                operation,
                verdict,
            })
            .inc();
        self.duration
            .get_or_create(&EndpointLabels { endpoint })
            .observe(took.as_secs_f64());
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_every_metric() {
        let b = crate::cli::certs::generate(&["a".into()], &[], 2).unwrap();
        let cert =
            super::super::tls::LoadedCert::from_pem(b.cert_pem.as_bytes(), b.key_pem.as_bytes())
                .unwrap();
        let m = Metrics::new(Arc::new(CertStore::new(cert)), None);
        let guard = m.in_flight();
        m.record(
            Endpoint::Validate,
            "CREATE",
            Outcome::denied,
            Duration::from_micros(30),
        );
        // Again, and once under an operation the apiserver does not send.
        m.record(
            Endpoint::Validate,
            "CREATE",
            Outcome::denied,
            Duration::from_micros(30),
        );
        m.record(
            Endpoint::Mutate,
            "PATCH",
            Outcome::allowed,
            Duration::from_millis(2),
        );
        let text = m.encode();
        drop(guard);
        for want in [
            r#"ibgu_webhook_admission_requests_total{endpoint="validate",operation="CREATE",verdict="denied"} 2"#,
            r#"ibgu_webhook_admission_requests_total{endpoint="mutate",operation="PATCH",verdict="allowed"} 1"#,
            r#"ibgu_webhook_admission_duration_seconds_bucket{le="0.00005",endpoint="validate"} 2"#,
            r#"ibgu_webhook_admission_duration_seconds_count{endpoint="mutate"} 1"#,
            "ibgu_webhook_admission_in_flight 1",
            "ibgu_webhook_certificate_expiry_timestamp_seconds ",
            "ibgu_webhook_certificate_reloads_total 0",
            "ibgu_webhook_certificate_reload_failures_total 0",
            "ibgu_webhook_log_lines_dropped_total 0",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(m.encode().contains("ibgu_webhook_admission_in_flight 0"));
    }
}
