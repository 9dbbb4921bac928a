//! JSON logs through `tracing`, every line passed through the redacting writer (C5),
//! with the request span (and so the request ID) on every line of a request.

use rampart_security::redact::RedactingMakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(level: &str, format: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let writer = RedactingMakeWriter::new(std::io::stdout);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(true);
    let _ = if format == "pretty" {
        builder.with_ansi(false).try_init()
    } else {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init()
    };
}
