//! `soak-plot LOG OUT [BUCKET_TICKS]`: the serial log of an `fsload` soak
//! run → `OUT.csv` (ops/s per bucket, crashes and restarts per service)
//! and `OUT.svg` (the plot). See `images::soakplot`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(log), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: soak-plot LOG OUT [BUCKET_TICKS]  (writes OUT.csv and OUT.svg)");
        return ExitCode::from(2);
    };
    let bucket = match args.get(2).map(|b| b.parse::<u64>()) {
        None => 100,
        Some(Ok(b)) if b > 0 => b,
        Some(_) => {
            eprintln!("soak-plot: BUCKET_TICKS must be a positive number");
            return ExitCode::from(2);
        }
    };
    let text = match std::fs::read(log) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            eprintln!("soak-plot: {log}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let soak = images::soakplot::parse(&text);
    let series = soak.series(bucket);
    let crashes = soak.markers.iter().filter(|m| !m.restart).count();
    let restarts = soak.markers.len() - crashes;
    let title = format!(
        "fsload: {} clients, {crashes} crashes, {restarts} restarts",
        soak.clients.len()
    );
    let svg = images::soakplot::svg(&soak, &series, &title);
    for (ext, body) in [("csv", series.csv()), ("svg", svg)] {
        let path = format!("{out}.{ext}");
        if let Err(e) = std::fs::write(&path, body) {
            eprintln!("soak-plot: {path}: {e}");
            return ExitCode::FAILURE;
        }
        println!("wrote {path}");
    }
    println!(
        "{} clients, {crashes} crashes, {restarts} restarts, {} buckets of {bucket} ticks",
        soak.clients.len(),
        series.rows.len()
    );
    ExitCode::SUCCESS
}
