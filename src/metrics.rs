//! Prometheus metrics: request counts and latency histograms by route and
//! status, plus gauges read at scrape time (job queue, database pool).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Request metrics, keyed by (method, route template, status).
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl Metrics {
    /// Records one finished request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let mut map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let series = map
            .entry((method.to_string(), route.to_string(), status))
            .or_default();
        series.count += 1;
        series.sum += secs;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                series.buckets[i] += 1;
            }
        }
    }

    /// The exposition text; `gauges` are `(name, help, value)` read by the caller.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP baitech_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE baitech_http_requests_total counter\n");
        let map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        for ((method, route, status), s) in map.iter() {
            let _ = writeln!(out, "baitech_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}", escape(route), s.count);
        }
        out.push_str("# HELP baitech_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE baitech_http_request_duration_seconds histogram\n");
        for ((method, route, status), s) in map.iter() {
            let labels = format!(
                "method=\"{method}\",route=\"{}\",status=\"{status}\"",
                escape(route)
            );
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "baitech_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "baitech_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "baitech_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "baitech_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe_request("GET", "/health", 200, Duration::from_micros(500));
        m.observe_request("GET", "/health", 200, Duration::from_millis(30));
        let text = m.render(&[("baitech_jobs_queued", "Jobs waiting.", 3.0)]);
        assert!(text.contains(
            "baitech_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2"
        ));
        assert!(text.contains("le=\"0.001\"} 1"));
        assert!(text.contains("le=\"0.05\"} 2"));
        assert!(text.contains("baitech_jobs_queued 3"));
    }
}
