//! Structured logs: JSON lines in Lambda (CloudWatch), filtered by `RUST_LOG`.

use tracing::Level;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// lambda_runtime logs every raw event at TRACE, with its `Authorization`
/// header, `?token=` or `resumeToken` in it: whatever `RUST_LOG` asks, the
/// runtime crates never log below DEBUG (the exact target too, as a more
/// specific directive would win over the crate's).
const NEVER_RAW_EVENTS: [&str; 4] =
    ["lambda_runtime", "lambda_runtime::layers::api_response", "lambda_runtime_api_client", "lambda_http"];

/// The filter for a `RUST_LOG` value (`info` when unset or unreadable):
/// `level` and `target=level` directives, comma-separated, as `RUST_LOG`
/// usually holds them (`EnvFilter`'s span and field filters are not
/// supported). A per-target filter rather than `EnvFilter`, whose regular
/// expressions add about 270 KB to every function.
pub fn filter(spec: Option<&str>) -> Targets {
    let filter =
        spec.and_then(|s| s.parse::<Targets>().ok()).unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    // Only where the runtime would log at TRACE: a lower level stays lower.
    NEVER_RAW_EVENTS.iter().fold(filter, |f, target| {
        if f.would_enable(target, &Level::TRACE) {
            f.with_target(*target, LevelFilter::DEBUG)
        } else {
            f
        }
    })
}

pub fn init() {
    let spec = std::env::var("RUST_LOG").ok();
    // `try_init`: a second call (tests, the CLI) is harmless.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(LevelFilter::TRACE)
        .with_current_span(false)
        .with_target(false)
        .without_time() // Lambda stamps every line itself
        .finish()
        .with(filter(spec.as_deref()))
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
            .with_max_level(LevelFilter::TRACE)
            .with_writer(move || writer.clone())
            .finish()
            .with(filter(Some(spec)));
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
        // Per target, and an unreadable value is `info`.
        let out = logged("warn,kefu=trace");
        assert!(out.contains("ours at trace") && !out.contains("runtime debug"), "{out}");
        let out = logged("kefu=loudest");
        assert!(out.contains("ours at info") && !out.contains("ours at trace"), "{out}");
    }
}
