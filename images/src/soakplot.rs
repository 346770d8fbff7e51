//! `soak-plot`: turns the serial log of an `fsload` run (a crash-under-load
//! soak in QEMU) into a CSV and an SVG plot of file-system operations per
//! second over time, with a marker at each crash and restart.
//!
//! Lines read (everything else is ignored):
//! - `[fsloadK] stat t=<ticks> ops=<n>`: client K's cumulative operation
//!   count at clock tick `t` (100 Hz);
//! - `[fsload] crash t=<ticks> svc=<label>`: the coordinator asked RS to
//!   crash `label`;
//! - `[fsload] restarted t=<ticks> svc=<label> after=<ticks>`: RS reported
//!   `label` running again.
//!
//! Throughput: each client's cumulative count is interpolated linearly
//! between its samples (constant after its last one), the clients are
//! summed, and the rate in each bucket is the growth over the bucket.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Clock ticks per second in the guest.
pub const HZ: u64 = 100;

/// Crash or restart of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// Clock tick.
    pub t: u64,
    /// Service label.
    pub svc: String,
    /// `true`: restarted; `false`: crash asked.
    pub restart: bool,
    /// Ticks from the crash (restarts only).
    pub after: Option<u64>,
}

/// What a log holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Soak {
    /// Client name → (tick, cumulative ops) samples in log order.
    pub clients: BTreeMap<String, Vec<(u64, u64)>>,
    /// Crashes and restarts in log order.
    pub markers: Vec<Marker>,
}

fn field<'a>(words: &[&'a str], key: &str) -> Option<&'a str> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn num(words: &[&str], key: &str) -> Option<u64> {
    field(words, key)?.parse().ok()
}

/// Parses a serial log.
pub fn parse(log: &str) -> Soak {
    let mut s = Soak::default();
    for line in log.lines() {
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let Some((name, text)) = rest.split_once("] ") else {
            continue;
        };
        if !name.starts_with("fsload") {
            continue;
        }
        let words: Vec<&str> = text.split_ascii_whitespace().collect();
        match words.first().copied() {
            Some("stat") => {
                if let (Some(t), Some(ops)) = (num(&words, "t"), num(&words, "ops")) {
                    s.clients
                        .entry(name.to_string())
                        .or_default()
                        .push((t, ops));
                }
            }
            Some(kind @ ("crash" | "restarted")) if name == "fsload" => {
                if let (Some(t), Some(svc)) = (num(&words, "t"), field(&words, "svc")) {
                    s.markers.push(Marker {
                        t,
                        svc: svc.to_string(),
                        restart: kind == "restarted",
                        after: num(&words, "after"),
                    });
                }
            }
            _ => {}
        }
    }
    s
}

/// Cumulative ops of one client at tick `t` (linear between samples).
fn ops_at(samples: &[(u64, u64)], t: u64) -> f64 {
    let Some(&(t0, o0)) = samples.first() else {
        return 0.0;
    };
    if t <= t0 {
        return o0 as f64 * t as f64 / t0.max(1) as f64;
    }
    for w in samples.windows(2) {
        let ((a, oa), (b, ob)) = (w[0], w[1]);
        if t <= b {
            if b == a {
                return ob as f64;
            }
            return oa as f64 + (ob as f64 - oa as f64) * (t - a) as f64 / (b - a) as f64;
        }
    }
    samples.last().map_or(0.0, |&(_, o)| o as f64)
}

/// One bucket of the series.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Start of the bucket (tick).
    pub t: u64,
    /// Operations per second in the bucket, all clients.
    pub ops_per_s: f64,
    /// Per service (in [`Series::services`] order): crashes, restarts.
    pub events: Vec<(u32, u32)>,
}

/// The bucketed series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Bucket width in ticks.
    pub bucket: u64,
    /// Services with markers, sorted.
    pub services: Vec<String>,
    /// Buckets from tick 0 to the last sample or marker.
    pub rows: Vec<Row>,
}

impl Soak {
    /// Last tick of any sample or marker.
    pub fn end(&self) -> u64 {
        let s = self
            .clients
            .values()
            .filter_map(|v| v.last().map(|&(t, _)| t));
        let m = self.markers.iter().map(|m| m.t);
        s.chain(m).max().unwrap_or(0)
    }

    /// Buckets of `bucket` ticks.
    pub fn series(&self, bucket: u64) -> Series {
        let bucket = bucket.max(1);
        let mut services: Vec<String> = self.markers.iter().map(|m| m.svc.clone()).collect();
        services.sort();
        services.dedup();
        let n = self.end() / bucket + 1;
        let total = |t: u64| -> f64 { self.clients.values().map(|s| ops_at(s, t)).sum() };
        let mut rows: Vec<Row> = (0..n)
            .map(|i| {
                let (a, b) = (i * bucket, (i + 1) * bucket);
                Row {
                    t: a,
                    ops_per_s: (total(b) - total(a)) * HZ as f64 / bucket as f64,
                    events: vec![(0, 0); services.len()],
                }
            })
            .collect();
        for m in &self.markers {
            let i = (m.t / bucket) as usize;
            let k = services.iter().position(|s| *s == m.svc).unwrap_or(0);
            if let Some(r) = rows.get_mut(i) {
                if m.restart {
                    r.events[k].1 += 1;
                } else {
                    r.events[k].0 += 1;
                }
            }
        }
        Series {
            bucket,
            services,
            rows,
        }
    }
}

impl Series {
    /// CSV: `t_ticks,ops_per_s`, then `crashes_<svc>,restarts_<svc>` per
    /// service.
    pub fn csv(&self) -> String {
        let mut out = String::from("t_ticks,ops_per_s");
        for s in &self.services {
            let _ = write!(out, ",crashes_{s},restarts_{s}");
        }
        out.push('\n');
        for r in &self.rows {
            let _ = write!(out, "{},{:.1}", r.t, r.ops_per_s);
            for (c, rs) in &r.events {
                let _ = write!(out, ",{c},{rs}");
            }
            out.push('\n');
        }
        out
    }
}

const COLORS: &[&str] = &["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A plain SVG: ops/s over time as a line; below the plot area one row
/// of marks per service, a tall mark at each crash and a short one at each
/// restart.
pub fn svg(soak: &Soak, series: &Series, title: &str) -> String {
    let (w, h) = (1000.0_f64, 420.0_f64);
    // Room on the left for the lane labels ("virtio-blk (1172)").
    let (left, right, top) = (120.0, 20.0, 40.0);
    let lanes = series.services.len().max(1) as f64;
    let lane_h = 16.0;
    let plot_bottom = h - 40.0 - lanes * lane_h;
    let pw = w - left - right;
    let ph = plot_bottom - top;
    let end = (series.rows.len() as u64 * series.bucket).max(1) as f64;
    let ymax = series
        .rows
        .iter()
        .map(|r| r.ops_per_s)
        .fold(0.0_f64, f64::max)
        .max(1.0)
        * 1.1;
    let x = |t: f64| left + pw * t / end;
    let y = |v: f64| plot_bottom - ph * v / ymax;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(o, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{left}" y="20" font-size="14">{}</text>"#,
        esc(title)
    );
    // Axes and grid.
    let _ = writeln!(
        o,
        r#"<line x1="{left}" y1="{plot_bottom}" x2="{}" y2="{plot_bottom}" stroke="black"/>"#,
        w - right
    );
    let _ = writeln!(
        o,
        r#"<line x1="{left}" y1="{top}" x2="{left}" y2="{plot_bottom}" stroke="black"/>"#
    );
    for i in 0..=4 {
        let v = ymax * f64::from(i) / 4.0;
        let yy = y(v);
        let _ = writeln!(
            o,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{v:.0}</text>"##,
            w - right,
            left - 4.0,
            yy + 4.0
        );
    }
    let secs = end / HZ as f64;
    let step = [1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0]
        .into_iter()
        .find(|s| secs / s <= 10.0)
        .unwrap_or(1200.0);
    let mut s = 0.0;
    while s <= secs {
        let xx = x(s * HZ as f64);
        let _ = writeln!(
            o,
            r#"<line x1="{xx:.1}" y1="{plot_bottom}" x2="{xx:.1}" y2="{:.1}" stroke="black"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{s:.0}</text>"#,
            plot_bottom + 4.0,
            h - 8.0
        );
        s += step;
    }
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">time (s)</text>"#,
        left + pw / 2.0,
        h - 22.0 + 0.0 * lanes
    );
    let _ = writeln!(
        o,
        r#"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">file-system operations per second</text>"#,
        top + ph / 2.0,
        top + ph / 2.0
    );
    // Throughput line (bucket midpoints).
    let pts: Vec<String> = series
        .rows
        .iter()
        .map(|r| {
            format!(
                "{:.1},{:.1}",
                x(r.t as f64 + series.bucket as f64 / 2.0),
                y(r.ops_per_s)
            )
        })
        .collect();
    let _ = writeln!(
        o,
        r#"<polyline fill="none" stroke="black" stroke-width="1.2" points="{}"/>"#,
        pts.join(" ")
    );
    // Marker lanes.
    for (k, svc) in series.services.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let base = plot_bottom + 14.0 + k as f64 * lane_h;
        let crashes = soak
            .markers
            .iter()
            .filter(|m| m.svc == *svc && !m.restart)
            .count();
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{color}">{} ({crashes})</text>"#,
            left - 4.0,
            base + 4.0,
            esc(svc)
        );
        // One mark per event, on whole pixels; marks that fall on the same
        // pixel coincide and are drawn once (keeps a long soak's plot small).
        for (restart, y0, len) in [(false, base - 5.0, 10), (true, base, 5)] {
            let xs: std::collections::BTreeSet<i64> = soak
                .markers
                .iter()
                .filter(|m| m.svc == *svc && m.restart == restart)
                .map(|m| x(m.t as f64).round() as i64)
                .collect();
            let mut path = String::new();
            for xx in xs {
                let _ = write!(path, "M{xx} {y0:.0}v{len}");
            }
            let _ = writeln!(
                o,
                r#"<path d="{path}" stroke="{color}" stroke-width="0.8"/>"#
            );
        }
    }
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{top}" text-anchor="end">crash: tall mark, restart: short mark (per service lane)</text>"#,
        w - right
    );
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
kernel: spawned 'fsload1' as slot 11
[fsload1] client 1 working in /tmp/c1
[fsload1] stat t=100 ops=10
[fsload2] stat t=100 ops=20
[fsload] crash t=150 svc=mfs
[rs] rs: mfs (7.1) died: Panic, restarts 0
[fsload] restarted t=170 svc=mfs after=20
[fsload1] stat t=200 ops=30
[fsload2] stat t=200 ops=40
[fsload] crash t=210 svc=virtio-blk
[fsload] restarted t=218 svc=virtio-blk after=8
[fsload3] stat t=x ops=5
[fsload] crash t=250 svc=pfs
[fsload2] lost: /tmp/c2/f1: gone
";

    #[test]
    fn parses_samples_and_markers_and_skips_the_rest() {
        let s = parse(LOG);
        assert_eq!(s.clients.len(), 2, "a stat line without a tick is skipped");
        assert_eq!(s.clients["fsload1"], vec![(100, 10), (200, 30)]);
        assert_eq!(s.clients["fsload2"], vec![(100, 20), (200, 40)]);
        assert_eq!(s.markers.len(), 5);
        assert_eq!(
            s.markers[1],
            Marker {
                t: 170,
                svc: "mfs".into(),
                restart: true,
                after: Some(20)
            }
        );
        assert!(!s.markers[4].restart);
        assert_eq!(s.end(), 250);
    }

    #[test]
    fn buckets_rates_and_markers() {
        let s = parse(LOG);
        let series = s.series(100);
        assert_eq!(series.services, vec!["mfs", "pfs", "virtio-blk"]);
        assert_eq!(series.rows.len(), 3);
        // 0..100: 30 ops (interpolated from 0) in one second.
        assert!((series.rows[0].ops_per_s - 30.0).abs() < 1e-9);
        // 100..200: 40 more.
        assert!((series.rows[1].ops_per_s - 40.0).abs() < 1e-9);
        // After the last samples the counts stay: no throughput.
        assert_eq!(series.rows[2].ops_per_s, 0.0);
        assert_eq!(series.rows[1].events, vec![(1, 1), (0, 0), (0, 0)]);
        assert_eq!(series.rows[2].events, vec![(0, 0), (1, 0), (1, 1)]);
        let csv = series.csv();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some(
                "t_ticks,ops_per_s,crashes_mfs,restarts_mfs,crashes_pfs,restarts_pfs,crashes_virtio-blk,restarts_virtio-blk"
            )
        );
        assert_eq!(lines.next(), Some("0,30.0,0,0,0,0,0,0"));
        assert_eq!(lines.next(), Some("100,40.0,1,1,0,0,0,0"));
        assert_eq!(lines.next(), Some("200,0.0,0,0,1,0,1,1"));
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn svg_has_the_line_and_one_mark_per_event() {
        let s = parse(LOG);
        let series = s.series(100);
        let out = svg(&s, &series, "a <soak>");
        assert!(out.starts_with("<svg "));
        assert!(out.trim_end().ends_with("</svg>"));
        assert!(out.contains("a &lt;soak&gt;"));
        assert_eq!(out.matches("<polyline").count(), 1);
        // Five markers on distinct pixels: one `M` move per mark.
        let marks: usize = out
            .lines()
            .filter(|l| l.starts_with("<path d=\""))
            .map(|l| l.matches('M').count())
            .sum();
        assert_eq!(marks, 5);
        assert!(out.contains(">mfs (1)<"));
    }

    #[test]
    fn an_empty_log_gives_an_empty_series() {
        let s = parse("nothing here\n[fsload] crash t=bad svc=mfs\n");
        assert_eq!(s, Soak::default());
        let series = s.series(100);
        assert_eq!(series.rows.len(), 1);
        assert_eq!(series.csv(), "t_ticks,ops_per_s\n0,0.0\n");
        assert!(svg(&s, &series, "empty").contains("</svg>"));
    }
}
