//! Structured logs: JSON lines in Lambda (CloudWatch), filtered by `RUST_LOG`.

use tracing_subscriber::filter::{Directive, EnvFilter};

/// lambda_runtime logs every raw event at TRACE, with its `Authorization`
/// header, `?token=` or `resumeToken` in it: whatever `RUST_LOG` asks, the
/// runtime crates never log below DEBUG (the exact target too, as a more
/// specific directive would win over the crate's).
const NEVER_RAW_EVENTS: [&str; 4] = [
    "lambda_runtime=debug",
    "lambda_runtime::layers::api_response=debug",
    "lambda_runtime_api_client=debug",
    "lambda_http=debug",
];

/// The filter for a `RUST_LOG` value (`info` when unset or unreadable).
pub fn filter(spec: Option<&str>) -> EnvFilter {
    let filter = spec.and_then(|s| EnvFilter::try_new(s).ok()).unwrap_or_else(|| EnvFilter::new("info"));
    // Only where the runtime would log at TRACE: a lower level stays lower.
    if filter.max_level_hint().is_none_or(|level| level < tracing::Level::TRACE) {
        return filter;
    }
    NEVER_RAW_EVENTS.iter().fold(filter, |f, d| f.add_directive(d.parse::<Directive>().expect("static directive")))
}

pub fn init() {
    let spec = std::env::var("RUST_LOG").ok();
    // `try_init`: a second call (tests, the CLI) is harmless.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter(spec.as_deref()))
        .with_current_span(false)
        .with_target(false)
        .without_time() // Lambda stamps every line itself
        .try_init();
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(spec: &str) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter(Some(spec)))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            // What lambda_runtime 1.x logs for every invocation at TRACE.
            tracing::trace!(target: "lambda_runtime::layers::api_response", body = "{\"token\":\"SECRET\"}", "raw JSON event received from Lambda");
            tracing::debug!(target: "lambda_runtime::runtime", "runtime debug");
            tracing::trace!(target: "kefu::app", "ours at trace");
            tracing::info!(target: "kefu::app", "ours at info");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text
    }

    #[test]
    fn raw_events_are_never_logged_whatever_the_level() {
        for spec in [
            "trace",
            "lambda_runtime=trace",
            "info,lambda_runtime::layers=trace",
            "lambda_runtime::layers::api_response=trace",
            "kefu=trace",
        ] {
            let out = logged(spec);
            assert!(!out.contains("SECRET"), "{spec}: {out}");
        }
        let out = logged("trace");
        assert!(out.contains("ours at trace") && out.contains("runtime debug"), "{out}");
        let out = logged("info");
        assert!(out.contains("ours at info") && !out.contains("runtime debug") && !out.contains("ours at trace"));
    }
}
