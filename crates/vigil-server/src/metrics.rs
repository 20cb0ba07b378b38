//! Prometheus metrics: request counts per route, method and status, and request durations,
//! kept by `metrics-exporter-prometheus` and rendered at `/api/v1/metrics`.
//!
//! The recorder belongs to the [`Metrics`] value, not to the process, so several servers
//! (tests) can run in one process. Call [`Metrics::install_global`] once in the binary to
//! make `metrics::counter!` and friends from other crates land in the same page.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

const REQUESTS: &str = "vigil_http_requests_total";
const DURATION: &str = "vigil_http_request_duration_seconds";
const METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The server's metrics registry.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with duration buckets from 1 ms to 10 s.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(DURATION.into()),
                &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0],
            )
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        recorder.describe_counter(
            REQUESTS.into(),
            None,
            "HTTP requests answered, by route, method and status".into(),
        );
        recorder.describe_histogram(
            DURATION.into(),
            Some(metrics::Unit::Seconds),
            "Time from request to response head, by route and method".into(),
        );
        Metrics {
            recorder: Arc::new(recorder),
            handle,
        }
    }

    /// Makes this registry the process-wide `metrics` recorder. Fails if one is installed.
    pub fn install_global(&self) -> Result<(), metrics::SetRecorderError<Arc<PrometheusRecorder>>> {
        metrics::set_global_recorder(self.recorder.clone())
    }

    /// The recorder, for code that records without the global one.
    pub fn recorder(&self) -> &Arc<PrometheusRecorder> {
        &self.recorder
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }

    /// Sets a gauge (no labels) to `value`: how other crates publish figures they keep
    /// themselves (pipeline lag, events processed) on this registry's page.
    pub fn set_gauge(&self, name: &'static str, value: f64) {
        self.recorder
            .register_gauge(&Key::from_static_name(name), &METADATA)
            .set(value);
    }

    fn record_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let key = Key::from_parts(
            REQUESTS,
            vec![
                Label::new("method", method.to_string()),
                Label::new("route", route.to_string()),
                Label::new("status", status.to_string()),
            ],
        );
        self.recorder.register_counter(&key, &METADATA).increment(1);
        let key = Key::from_parts(
            DURATION,
            vec![
                Label::new("method", method.to_string()),
                Label::new("route", route.to_string()),
            ],
        );
        self.recorder
            .register_histogram(&key, &METADATA)
            .record(seconds);
    }
}

/// Middleware counting each request under its route pattern (`/api/v1/tokens/{id}`, not
/// the concrete path, so label values stay few); unmatched paths count as `unmatched`.
pub(crate) async fn track_requests(
    State(metrics): State<Metrics>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let resp = next.run(req).await;
    metrics.record_request(
        &method,
        &route,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}
