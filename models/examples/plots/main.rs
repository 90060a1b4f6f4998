//! The book's performance plots, drawn from the committed benchmark output.
//!
//! ```text
//! cargo run --release -p fhe-models --example plots [DATA_DIR [OUT_DIR]]
//! ```
//!
//! reads `DATA_DIR/run*.jsonl` (default `book/data/h200-2026-12-04`, the raw JSON lines of
//! `backends/gpu/device-check.sh`) and the commits named in `DATA_DIR/README.md`, and
//! writes into `OUT_DIR` (default `book/src/img`):
//!
//! - `gpu-bench-a-ops.png`: the `ops` step's median per operation, run by run (log scale);
//! - `gpu-bootstrap.png`: the `bootstrap` step's median latency and its phases, run by run;
//! - `gpu-bootstrap-profile.png`: the last run's `bprofile` step, time per primitive.
//!
//! Every plotted value is read from the JSON lines (`data.rs`); text is rendered with the
//! vendored DejaVu Sans (`DejaVuSans.ttf`, Bitstream Vera licence, see
//! `DejaVuSans-LICENSE.txt`) through `ab_glyph`, so no system font or library is needed.

mod data;

use std::error::Error;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use data::{bench_ops, bootstrap, bootstrap_profile, load_runs, Run};

type Res<T> = Result<T, Box<dyn Error>>;
type Draw = for<'a, 'b> fn(&DrawingArea<BitMapBackend<'a>, Shift>, &'b [Run]) -> Res<()>;

const FONT: &str = "sans-serif";
const SIZE: (u32, u32) = (960, 560);

fn main() -> Res<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut args = std::env::args().skip(1);
    let data_dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("book/data/h200-2026-12-04"));
    let out_dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("book/src/img"));
    plotters::style::register_font(FONT, FontStyle::Normal, include_bytes!("DejaVuSans.ttf"))
        .map_err(|_| "the vendored font does not parse")?;
    std::fs::create_dir_all(&out_dir)?;
    let runs = load_runs(&data_dir)?;
    for (name, draw) in [
        ("gpu-bench-a-ops.png", ops_plot as Draw),
        ("gpu-bootstrap.png", bootstrap_plot),
        ("gpu-bootstrap-profile.png", profile_plot),
    ] {
        let path = out_dir.join(name);
        let area = BitMapBackend::new(&path, SIZE).into_drawing_area();
        area.fill(&WHITE)?;
        draw(&area, &runs)?;
        area.present()?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn run_label(r: &Run) -> String {
    format!("{} ({})", r.file.trim_end_matches(".jsonl"), r.commit)
}

/// The median of each `bench-a` operation, one line per operation, over the runs that
/// have an `ops` step.
fn ops_plot(area: &DrawingArea<BitMapBackend, Shift>, runs: &[Run]) -> Res<()> {
    let rows: Vec<(&Run, _)> = runs
        .iter()
        .map(|r| (r, bench_ops(r)))
        .filter(|(_, o)| !o.is_empty())
        .collect();
    let mut ops: Vec<&String> = rows.iter().flat_map(|(_, o)| o.keys()).collect();
    ops.sort();
    ops.dedup();
    let all = rows.iter().flat_map(|(_, o)| o.values().copied());
    let (lo, hi) = all.fold((f64::MAX, 0f64), |(a, b), v| (a.min(v), b.max(v)));
    let labels: Vec<String> = rows.iter().map(|(r, _)| run_label(r)).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(
            "GPU (H200), bench-a: median per operation, by commit",
            (FONT, 22),
        )
        .margin(14)
        .margin_right(150)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            -0.3f64..rows.len() as f64 - 0.7,
            (lo * 0.7..hi * 1.5).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_labels(rows.len())
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("median µs (log scale)")
        .label_style((FONT, 14))
        .draw()?;
    let mut ends = Vec::new();
    for (k, op) in ops.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let pts: Vec<(f64, f64)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, (_, o))| Some((i as f64, *o.get(*op)?)))
            .collect();
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        ends.push((*pts.last().ok_or("an op without points")?, op, color));
        chart.draw_series(LineSeries::new(pts, color.stroke_width(2)))?;
    }
    // end labels of lines that finish close together would overlap: spread them to at
    // least one text line apart (in log10 units of the y axis), keeping their order
    let (_, plot_h) = chart.plotting_area().dim_in_pixel();
    let line = 15.0 * ((hi * 1.5).log10() - (lo * 0.7).log10()) / plot_h.max(1) as f64;
    ends.sort_by(|a, b| a.0 .1.total_cmp(&b.0 .1));
    let mut prev = f64::NEG_INFINITY;
    for ((x, y), op, color) in ends {
        let at = y.log10().max(prev + line);
        prev = at;
        chart.draw_series(std::iter::once(Text::new(
            op.to_string(),
            (x + 0.05, 10f64.powf(at)),
            (FONT, 13).into_font().color(&color),
        )))?;
    }
    Ok(())
}

/// The bootstrap's median latency and its phases, over the runs with a `bootstrap` step.
fn bootstrap_plot(area: &DrawingArea<BitMapBackend, Shift>, runs: &[Run]) -> Res<()> {
    let rows: Vec<(&Run, f64, _)> = runs
        .iter()
        .filter_map(|r| bootstrap(r).map(|(m, p)| (r, m, p)))
        .collect();
    let hi = rows.iter().map(|r| r.1).fold(0f64, f64::max);
    let labels: Vec<String> = rows.iter().map(|(r, _, _)| run_label(r)).collect();
    let mut phases: Vec<&String> = rows.iter().flat_map(|(_, _, p)| p.keys()).collect();
    phases.sort();
    phases.dedup();
    let mut chart = ChartBuilder::on(area)
        .caption(
            "GPU (H200), boot-n16: bootstrap latency and its phases, by commit",
            (FONT, 22),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.3f64..rows.len() as f64 - 0.7, 0f64..hi * 1.15)?;
    chart
        .configure_mesh()
        .x_labels(rows.len())
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("ms")
        .label_style((FONT, 14))
        .draw()?;
    let mut series: Vec<(String, Vec<(f64, f64)>)> = vec![(
        "median (whole bootstrap)".into(),
        rows.iter()
            .enumerate()
            .map(|(i, r)| (i as f64, r.1))
            .collect(),
    )];
    for ph in &phases {
        let pts = rows
            .iter()
            .enumerate()
            .filter_map(|(i, (_, _, p))| Some((i as f64, *p.get(*ph)?)))
            .collect();
        series.push((ph.to_string(), pts));
    }
    for (k, (name, pts)) in series.into_iter().enumerate() {
        let color = if k == 0 {
            BLACK.to_rgba()
        } else {
            Palette99::pick(k).to_rgba()
        };
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        chart
            .draw_series(pts.iter().map(|&(x, y)| {
                Text::new(format!("{y:.1}"), (x + 0.03, y), (FONT, 12).into_font())
            }))?;
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// The last run with a `bprofile` step: time per backend primitive inside one bootstrap.
fn profile_plot(area: &DrawingArea<BitMapBackend, Shift>, runs: &[Run]) -> Res<()> {
    let (run, (prims, wall, device)) = runs
        .iter()
        .rev()
        .find_map(|r| Some((r, bootstrap_profile(r)?)))
        .ok_or("no run has a bootstrap_profile line")?;
    let n = prims.len();
    let hi = prims.first().map(|p| p.2).unwrap_or(1.0);
    let names: Vec<String> = prims.iter().rev().map(|p| p.0.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "GPU (H200), one boot-n16 bootstrap by primitive, {}: wall {wall} ms, device {device} ms",
                run_label(run)
            ),
            (FONT, 18),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(170)
        .build_cartesian_2d(0f64..hi * 1.3, (0..n).into_segmented())?;
    chart
        .configure_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .disable_y_mesh()
        .x_desc("device ms (sum over calls)")
        .label_style((FONT, 13))
        .draw()?;
    // largest at the top: segment n-1-j holds the j-th largest
    chart.draw_series(prims.iter().enumerate().map(|(j, p)| {
        let i = n - 1 - j;
        let mut bar = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(i)),
                (p.2, SegmentValue::Exact(i + 1)),
            ],
            BLUE.mix(0.6).filled(),
        );
        bar.set_margin(2, 2, 0, 0);
        bar
    }))?;
    chart.draw_series(prims.iter().enumerate().map(|(j, p)| {
        Text::new(
            format!("{} ms, {} calls", p.2, p.1),
            (p.2 + hi * 0.01, SegmentValue::CenterOf(n - 1 - j)),
            (FONT, 12).into_font(),
        )
    }))?;
    Ok(())
}
