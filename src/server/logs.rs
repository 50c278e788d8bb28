//! The logs: the text format's fields, escaped, and the count of lines the log writer
//! dropped.
//!
//! Text lines carry what requests sent (a name, a namespace, a uid, a decoder's message
//! quoting the body), and a CREATE reaches the webhook before the apiserver has checked
//! its name. [`EscapedFields`] formats every field so that no value can end a line or
//! start another: a string value is written as Rust's `{:?}` writes it (quoted, with
//! `\n`, `\r`, `\"`, `\\` and `\u{1b}` escapes), any other value bare when it holds
//! nothing but visible characters and quoted the same way otherwise, and the message has
//! its control characters escaped. It does this for every field of every line, so no
//! call site has to remember. JSON lines are escaped by the JSON formatter.
//!
//! The log writer runs on its own thread behind a bounded queue and drops lines rather
//! than block requests when the queue is full (stderr stalled). [`report_dropped`] says
//! how many were lost once the writer has caught up, and `/metrics` counts them.

use std::fmt::{self, Write as _};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing_appender::non_blocking::ErrorCounter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// The text format's fields: `name=value`, each value escaped (see the module's doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'w> FormatFields<'w> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = Visitor {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Visitor<'a, 'w> {
    out: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Visitor<'_, '_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let sep = if std::mem::take(&mut self.first) {
            ""
        } else {
            " "
        };
        self.result = if field.name() == "message" {
            self.out.write_str(sep).and_then(|()| value(self.out))
        } else {
            write!(self.out, "{sep}{}=", field.name()).and_then(|()| value(self.out))
        };
    }
}

impl Visit for Visitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, |out| write_escaping_controls(out, value));
        } else {
            self.field(field, |out| write!(out, "{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.field(field, |out| write!(EscapeControls(out), "{value:?}"));
            return;
        }
        // Numbers, booleans and plain words go out bare, as the default format writes
        // them; anything else quoted and escaped.
        let mut scan = Scan::default();
        let _ = write!(scan, "{value:?}");
        if scan.bare() {
            self.field(field, |out| write!(out, "{value:?}"));
        } else {
            self.field(field, |out| {
                out.write_char('"')?;
                write!(EscapeAll(out), "{value:?}")?;
                out.write_char('"')
            });
        }
    }
}

/// Whether what is written is something (not empty) of only characters a bare value may
/// hold.
#[derive(Default)]
struct Scan {
    any: bool,
    odd: bool,
}

impl Scan {
    fn bare(&self) -> bool {
        self.any && !self.odd
    }
}

impl fmt::Write for Scan {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.any |= !s.is_empty();
        self.odd |= !s.chars().all(bare);
        Ok(())
    }
}

/// A character a bare value may hold.
fn bare(c: char) -> bool {
    !(c.is_control() || c.is_whitespace() || matches!(c, '"' | '\\'))
}

fn write_escaping_controls(out: &mut Writer<'_>, s: &str) -> fmt::Result {
    EscapeControls(out).write_str(s)
}

/// Writes control characters as their escapes (`\n`, `\u{1b}`), the rest as it is.
struct EscapeControls<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for EscapeControls<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if c.is_control() {
                write!(self.0, "{}", c.escape_debug())?;
            } else {
                self.0.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// Writes every character as a Rust string literal holds it (`{:?}` of a `str`).
struct EscapeAll<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for EscapeAll<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write!(self.0, "{}", s.escape_debug())
    }
}

/// How often the count of dropped lines is looked at.
pub const DROP_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Logs how many lines the writer dropped, once it has caught up: after a check interval
/// in which it dropped nothing more. (A line logged while it is still stalled is dropped
/// too, and counted; it is said again once the writer takes lines.) Runs until aborted.
pub async fn report_dropped(counter: ErrorCounter, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut reported, mut seen) = (0usize, 0usize);
    loop {
        tick.tick().await;
        let now = counter.dropped_lines();
        if now > reported && now == seen {
            tracing::warn!(
                dropped = now - reported,
                dropped_total = now,
                "log lines dropped: the log writer fell behind (stderr slow or stalled) \
                 and its queue was full; ibgu_webhook_log_lines_dropped_total counts them"
            );
            reported = now;
        }
        seen = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Lines written by a text subscriber with [`EscapedFields`] while `f` runs.
    fn logged(f: impl FnOnce()) -> String {
        let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .fmt_fields(EscapedFields)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.lock().expect("buffer").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn values_that_could_forge_a_line_are_escaped() {
        let evil = "x\nuid=forged operation=\"DELETE\" decision=\"allowed\"\r\x1b[31m";
        let text = logged(|| {
            tracing::info!(
                name = evil,
                shown = %evil,
                debugged = ?evil,
                n = 3,
                ok = true,
                word = %"plain",
                "admission {}",
                evil
            );
        });
        assert_eq!(text.lines().count(), 1, "{text}");
        let line = text.trim_end_matches('\n');
        assert!(!line.contains('\r') && !line.contains('\x1b'), "{line:?}");
        let escaped = format!("{evil:?}");
        assert!(line.contains(&format!("name={escaped}")), "{line}");
        assert!(line.contains(&format!("shown={escaped}")), "{line}");
        // A Debug value is quoted once more: its own quotes are part of it.
        assert!(line.contains(&format!("debugged={:?}", escaped)), "{line}");
        assert!(line.contains(" n=3 ok=true word=plain"), "{line}");
        assert!(
            line.contains(r#"admission x\nuid=forged operation="DELETE""#),
            "{line}"
        );
    }
}
