//! A small Prometheus registry: labelled counters and the HTTP latency histograms,
//! rendered in the text exposition format. Series are created once and then updated
//! with atomics under a read lock, so the hot path does not contend.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Histogram bucket upper bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Per-series latency counts; buckets are stored non-cumulative (one atomic add per
/// request) and summed when rendered.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

fn method_id(m: &str) -> u8 {
    METHODS
        .iter()
        .position(|x| *x == m)
        .map(|i| i as u8)
        .unwrap_or(u8::MAX)
}

fn method_name(id: u8) -> &'static str {
    METHODS.get(id as usize).copied().unwrap_or("OTHER")
}

/// The series of one route template, keyed by (method, status) without allocation.
type RouteSeries = RwLock<HashMap<(u8, u16), Arc<Histogram>>>;

type Labels = Vec<(String, String)>;

/// The registry; one per server instance.
#[derive(Default)]
pub struct Metrics {
    counters: RwLock<BTreeMap<(&'static str, Labels), Arc<AtomicU64>>>,
    help: RwLock<BTreeMap<&'static str, &'static str>>,
    http: RwLock<HashMap<String, Arc<RouteSeries>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one to the counter `name{labels}`.
    pub fn inc(&self, name: &'static str, help: &'static str, labels: &[(&str, &str)]) {
        self.add(name, help, labels, 1);
    }

    /// Adds `n` to the counter `name{labels}`.
    pub fn add(&self, name: &'static str, help: &'static str, labels: &[(&str, &str)], n: u64) {
        let key: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Ok(map) = self.counters.read() {
            if let Some(c) = map.get(&(name, key.clone())) {
                c.fetch_add(n, Ordering::Relaxed);
                return;
            }
        }
        if let Ok(mut h) = self.help.write() {
            h.entry(name).or_insert(help);
        }
        if let Ok(mut map) = self.counters.write() {
            map.entry((name, key))
                .or_default()
                .fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Current value of a counter (for tests).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let Ok(map) = self.counters.read() else {
            return 0;
        };
        map.iter()
            .filter(|((n, l), _)| {
                *n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, c)| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Records one HTTP request (no allocation once the series exists).
    pub fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let route_series = {
            let found = self.http.read().ok().and_then(|m| m.get(route).cloned());
            match found {
                Some(r) => r,
                None => match self.http.write() {
                    Ok(mut m) => m.entry(route.to_owned()).or_default().clone(),
                    Err(_) => return,
                },
            }
        };
        let key = (method_id(method), status);
        let hist = {
            let found = route_series.read().ok().and_then(|m| m.get(&key).cloned());
            match found {
                Some(h) => h,
                None => match route_series.write() {
                    Ok(mut m) => m.entry(key).or_default().clone(),
                    Err(_) => return,
                },
            }
        };
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            hist.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        hist.count.fetch_add(1, Ordering::Relaxed);
        hist.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    fn http_series(&self) -> Vec<(String, &'static str, u16, Arc<Histogram>)> {
        let mut out = Vec::new();
        if let Ok(http) = self.http.read() {
            for (route, series) in http.iter() {
                if let Ok(series) = series.read() {
                    for ((m, s), h) in series.iter() {
                        out.push((route.clone(), method_name(*m), *s, h.clone()));
                    }
                }
            }
        }
        out.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
        out
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        if let (Ok(counters), Ok(help)) = (self.counters.read(), self.help.read()) {
            let mut last = "";
            for ((name, labels), v) in counters.iter() {
                if *name != last {
                    let h = help.get(name).copied().unwrap_or("");
                    let _ = writeln!(out, "# HELP {name} {h}\n# TYPE {name} counter");
                    last = name;
                }
                let l: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect();
                let _ = writeln!(
                    out,
                    "{name}{{{}}} {}",
                    l.join(","),
                    v.load(Ordering::Relaxed)
                );
            }
        }
        let series = self.http_series();
        out.push_str(
            "# HELP rampart_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE rampart_http_requests_total counter\n");
        for (r, m, s, h) in &series {
            let _ = writeln!(
                out,
                "rampart_http_requests_total{{method=\"{m}\",route=\"{}\",status=\"{s}\"}} {}",
                escape(r),
                h.count.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP rampart_http_request_duration_seconds HTTP latency by method, route and status.\n");
        out.push_str("# TYPE rampart_http_request_duration_seconds histogram\n");
        for (r, m, s, h) in &series {
            let labels = format!("method=\"{m}\",route=\"{}\",status=\"{s}\"", escape(r));
            let mut cumulative = 0u64;
            for (i, b) in BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "rampart_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "rampart_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "rampart_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "rampart_http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::new();
        m.inc("rampart_x_total", "X things.", &[("kind", "a\"b")]);
        m.inc("rampart_x_total", "X things.", &[("kind", "a\"b")]);
        m.observe_http("GET", "/healthz", 200, 0.002);
        let text = m.render();
        assert!(
            text.contains("rampart_x_total{kind=\"a\\\"b\"} 2"),
            "{text}"
        );
        assert!(text.contains(
            "rampart_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",status=\"200\",le=\"0.0025\"} 1"
        ));
        assert!(text.contains(
            "rampart_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",status=\"200\",le=\"0.001\"} 0"
        ));
        assert_eq!(m.counter("rampart_x_total", &[]), 2);
    }
}
