//! Draws the org-scale benchmark's curve: reads `<dir>/curve.csv` and writes
//! `<dir>/curve.png` (`<dir>` defaults to bench/results). The benchmark runs it at
//! its end; `cargo run -p org-scale-plot -- <dir>` redraws a curve.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One point of the curve: grants, raw bound (all writes) and every share Ready in
/// seconds, the controller's peak memory in MB; its name and memory per grant in KB
/// when the CSV has them (older ones do not).
struct Point {
    grants: f64,
    raw_all: f64,
    ready: f64,
    peak_rss_mb: f64,
    scenario: Option<String>,
    kb_per_grant: Option<f64>,
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
    let (scenario, kb_per_grant) = (column("scenario").ok(), column("kb_per_grant").ok());
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
                scenario: scenario
                    .and_then(|i| fields.get(i))
                    .map(|s| s.trim().to_string()),
                kb_per_grant: kb_per_grant.map(field).transpose()?,
            })
        })
        .collect()
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Time until every share is Ready against the raw bound, the controller's peak
/// memory against 150 MB and, when the CSV has it, memory per grant, over grants.
fn plot(points: &[Point], path: &Path) -> Res<()> {
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        epaint_default_fonts::UBUNTU_LIGHT,
    )
    .map_err(|_| "font")?;
    let per_grant = points.iter().all(|p| p.kb_per_grant.is_some()) && !points.is_empty();
    let panels = if per_grant { 3 } else { 2 };
    let root = BitMapBackend::new(path, (500 * panels, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, panels as usize));
    let max_x = points.iter().map(|p| p.grants).fold(1.0, f64::max) * 1.05;
    if let [time_area, memory_area, rest @ ..] = areas.as_slice() {
        time(time_area, points, max_x)?;
        memory(memory_area, points, max_x)?;
        if let Some(area) = rest.first() {
            memory_per_grant(area, points, max_x)?;
        }
    }
    root.present()?;
    Ok(())
}

/// Time until every share is Ready against the raw bound; points named by scenario.
fn time(area: &Area, points: &[Point], max_x: f64) -> Res<()> {
    let max_t = points
        .iter()
        .map(|p| p.raw_all.max(p.ready))
        .fold(1.0, f64::max);
    let mut time = ChartBuilder::on(area)
        .caption("time until every share is Ready", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..max_x, 0.0..max_t * 1.1)?;
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
    // Points of different shapes share the curve: say which is which.
    time.draw_series(points.iter().filter_map(|p| {
        let name = p.scenario.clone()?;
        Some(Text::new(name, (p.grants, p.ready), ("sans-serif", 12)))
    }))?;
    time.configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}

/// The controller's peak memory against 150 MB.
fn memory(area: &Area, points: &[Point], max_x: f64) -> Res<()> {
    let max_m = points.iter().map(|p| p.peak_rss_mb).fold(1.0, f64::max);
    let mut mem = ChartBuilder::on(area)
        .caption("controller peak memory", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..max_x, 0.0..max_m.max(150.0) * 1.1)?;
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
        [(0.0, 150.0), (max_x, 150.0)],
        BLACK.mix(0.4),
    ))?;
    Ok(())
}

/// Peak memory until Ready per grant: falls as the fixed part spreads over more
/// grants, and stays flat once memory grows with grants alone.
fn memory_per_grant(area: &Area, points: &[Point], max_x: f64) -> Res<()> {
    let per_grant: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| Some((p.grants, p.kb_per_grant?)))
        .collect();
    let max_kb = per_grant.iter().map(|p| p.1).fold(1.0, f64::max);
    let min_kb = per_grant.iter().map(|p| p.1).fold(max_kb, f64::min);
    // Logarithmic: the smallest points hold hundreds of KB a grant, the largest a few.
    let mut chart = ChartBuilder::on(area)
        .caption("controller memory per grant", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(
            0.0..max_x,
            (min_kb.max(0.01) * 0.8..max_kb * 1.25).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("grants")
        .y_desc("KB per grant (peak until Ready)")
        .draw()?;
    chart.draw_series(LineSeries::new(per_grant.iter().copied(), &RED))?;
    chart.draw_series(
        per_grant
            .iter()
            .map(|&(x, y)| Circle::new((x, y), 3, RED.filled())),
    )?;
    Ok(())
}
