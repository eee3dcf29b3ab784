//! Draws the org-scale benchmark's curve: reads `<dir>/curve.csv` and writes
//! `<dir>/curve.png` (`<dir>` defaults to bench/results). The benchmark runs it at
//! its end; `cargo run -p org-scale-plot -- <dir>` redraws a curve.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One point of the curve: grants, raw bound (all writes) and every share Ready in
/// seconds, the controller's peak memory in MB.
struct Point {
    grants: f64,
    raw_all: f64,
    ready: f64,
    peak_rss_mb: f64,
}

fn main() -> Res<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../results"));
    let csv = dir.join("curve.csv");
    let text = std::fs::read_to_string(&csv).map_err(|e| format!("{}: {e}", csv.display()))?;
    let points = parse(&text).map_err(|e| format!("{}: {e}", csv.display()))?;
    plot(&points, &dir.join("curve.png"))
}

/// The rows of curve.csv, its columns found by name (as the benchmark writes them).
fn parse(text: &str) -> Res<Vec<Point>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: HashMap<&str, usize> = lines
        .next()
        .ok_or("empty")?
        .split(',')
        .enumerate()
        .map(|(i, name)| (name.trim(), i))
        .collect();
    let column = |name: &str| {
        header
            .get(name)
            .copied()
            .ok_or_else(|| format!("no column {name}"))
    };
    let (grants, raw_all, ready, peak) = (
        column("grants")?,
        column("raw_all_s")?,
        column("ready_s")?,
        column("peak_rss_mb")?,
    );
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let field = |i: usize| -> Res<f64> {
                let f = fields
                    .get(i)
                    .ok_or_else(|| format!("short line {line:?}"))?;
                Ok(f.trim().parse::<f64>()?)
            };
            Ok(Point {
                grants: field(grants)?,
                raw_all: field(raw_all)?,
                ready: field(ready)?,
                peak_rss_mb: field(peak)?,
            })
        })
        .collect()
}

/// Time until every share is Ready against the raw bound, and the controller's peak
/// memory against 150 MB, both over grants.
fn plot(points: &[Point], path: &Path) -> Res<()> {
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        epaint_default_fonts::UBUNTU_LIGHT,
    )
    .map_err(|_| "font")?;
    let max_x = points.iter().map(|p| p.grants).fold(1.0, f64::max);
    let max_t = points
        .iter()
        .map(|p| p.raw_all.max(p.ready))
        .fold(1.0, f64::max);
    let max_m = points.iter().map(|p| p.peak_rss_mb).fold(1.0, f64::max);
    let root = BitMapBackend::new(path, (1000, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(500);
    let mut time = ChartBuilder::on(&left)
        .caption("time until every share is Ready", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..max_x * 1.05, 0.0..max_t * 1.1)?;
    time.configure_mesh()
        .x_desc("grants")
        .y_desc("seconds")
        .draw()?;
    time.draw_series(LineSeries::new(
        points.iter().map(|p| (p.grants, p.raw_all)),
        &BLUE,
    ))?
    .label("raw write bound")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    time.draw_series(LineSeries::new(
        points.iter().map(|p| (p.grants, p.ready)),
        &RED,
    ))?
    .label("workflow-share")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    time.draw_series(
        points
            .iter()
            .map(|p| Circle::new((p.grants, p.ready), 3, RED.filled())),
    )?;
    time.configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    let mut mem = ChartBuilder::on(&right)
        .caption("controller peak memory", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..max_x * 1.05, 0.0..max_m.max(150.0) * 1.1)?;
    mem.configure_mesh().x_desc("grants").y_desc("MB").draw()?;
    mem.draw_series(LineSeries::new(
        points.iter().map(|p| (p.grants, p.peak_rss_mb)),
        &RED,
    ))?;
    mem.draw_series(
        points
            .iter()
            .map(|p| Circle::new((p.grants, p.peak_rss_mb), 3, RED.filled())),
    )?;
    mem.draw_series(LineSeries::new(
        [(0.0, 150.0), (max_x * 1.05, 150.0)],
        BLACK.mix(0.4),
    ))?;
    root.present()?;
    Ok(())
}
