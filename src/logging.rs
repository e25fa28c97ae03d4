//! Logs and traces: `tracing` to stderr (human or JSON), and, when `[telemetry] otlp_endpoint` is
//! set, every span exported over OTLP/HTTP to a collector (Jaeger, Tempo, an OpenTelemetry
//! Collector...), so one booking can be followed through every service.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::Config;

/// Keeps the trace exporter alive; flushes what it holds when dropped.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("konnektid: could not flush traces: {error}");
            }
        }
    }
}

/// Installs the global subscriber once (later calls keep the first). `RUST_LOG` overrides the
/// configured level.
pub fn init(config: &Config) -> TelemetryGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let json = config.log.format == "json";
    // Colour codes only for a person at a terminal, never into a file or a pipe.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let human_layer = (!json).then(|| fmt::layer().with_ansi(ansi).with_writer(std::io::stderr));
    let json_layer = json.then(|| fmt::layer().json().with_writer(std::io::stderr));
    let endpoint = config.telemetry.otlp_endpoint.trim();
    let provider = if endpoint.is_empty() {
        None
    } else {
        match SpanExporter::builder().with_http().with_endpoint(endpoint).build() {
            Ok(exporter) => {
                let resource = Resource::builder().with_service_name(config.telemetry.service_name.clone()).build();
                Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
            }
            Err(error) => {
                eprintln!("konnektid: traces are not exported: {error}");
                None
            }
        }
    };
    let otel_layer = provider.as_ref().map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("konnektid")));
    let installed = tracing_subscriber::registry().with(filter).with(human_layer).with(json_layer).with(otel_layer).try_init();
    if installed.is_ok() && provider.is_some() {
        tracing::info!(endpoint, "exporting traces over OTLP");
    }
    TelemetryGuard { provider }
}
