//! Design-space sweeps: one program priced over lanes × scratchpad sizes, written as CSV
//! and drawn as a PNG (plotters, with a vendored font: no system library needed).

use crate::{Hardware, Program, SimError};
use plotters::prelude::*;
use serde::Serialize;
use std::path::Path;

/// One design point.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// Lanes (every unit's throughput scaled with them).
    pub lanes: usize,
    /// Scratchpad MB.
    pub scratchpad_mb: f64,
    /// Latency.
    pub seconds: f64,
    /// Energy.
    pub energy_joules: f64,
    /// Off-chip bytes.
    pub offchip_bytes: f64,
    /// Whether the program's keys fit on chip.
    pub keys_on_chip: bool,
    /// Whether its ciphertexts do.
    pub ciphertexts_on_chip: bool,
}

/// Prices `program` on `base` with each lane count and scratchpad size.
pub fn sweep(
    program: &Program,
    base: &Hardware,
    lanes: &[usize],
    scratchpad_mb: &[f64],
) -> Result<Vec<Point>, SimError> {
    let mut out = Vec::with_capacity(lanes.len() * scratchpad_mb.len());
    for &l in lanes {
        for &mb in scratchpad_mb {
            let hw = base.with_lanes(l).with_scratchpad_mb(mb);
            hw.validate("sweep point")?;
            let r = program.price(&hw)?;
            out.push(Point {
                lanes: l,
                scratchpad_mb: mb,
                seconds: r.seconds,
                energy_joules: r.energy_joules,
                offchip_bytes: r.offchip.keys + r.offchip.plaintexts + r.offchip.ciphertexts,
                keys_on_chip: r.residency.keys_on_chip,
                ciphertexts_on_chip: r.residency.ciphertexts_on_chip,
            });
        }
    }
    Ok(out)
}

/// The points as CSV (a header line, then one line per point).
pub fn to_csv(points: &[Point]) -> String {
    let mut s = String::from(
        "lanes,scratchpad_mb,latency_ms,energy_j,offchip_gb,keys_on_chip,ciphertexts_on_chip\n",
    );
    for p in points {
        s.push_str(&format!(
            "{},{},{:.6},{:.6},{:.6},{},{}\n",
            p.lanes,
            p.scratchpad_mb,
            p.seconds * 1e3,
            p.energy_joules,
            p.offchip_bytes / 1e9,
            p.keys_on_chip,
            p.ciphertexts_on_chip
        ));
    }
    s
}

const FONT: &str = "sans-serif";

fn register_font() {
    // the workspace's vendored DejaVu Sans (Bitstream Vera licence, next to the file)
    let _ = plotters::style::register_font(
        FONT,
        FontStyle::Normal,
        include_bytes!("../../../models/examples/plots/DejaVuSans.ttf"),
    );
}

/// Draws latency against scratchpad size, one line per lane count, into a PNG.
pub fn plot_png(
    points: &[Point],
    title: &str,
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    register_font();
    let root = BitMapBackend::new(path, (960, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let ms = |p: &Point| p.seconds * 1e3;
    let (xmin, xmax) = points.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| {
        (a.min(p.scratchpad_mb), b.max(p.scratchpad_mb))
    });
    let (ymin, ymax) = points.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| {
        (a.min(ms(p)), b.max(ms(p)))
    });
    if points.is_empty() || ymax.is_nan() || ymax <= 0.0 {
        return Err("nothing to plot".into());
    }
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (xmin * 0.9..xmax * 1.1).log_scale(),
            (ymin * 0.8..ymax * 1.25).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("scratchpad (MB)")
        .y_desc("latency (ms)")
        .label_style((FONT, 14))
        .draw()?;
    let mut lanes: Vec<usize> = points.iter().map(|p| p.lanes).collect();
    lanes.sort_unstable();
    lanes.dedup();
    for (i, &l) in lanes.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let series: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.lanes == l)
            .map(|p| (p.scratchpad_mb, ms(p)))
            .collect();
        chart
            .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))?
            .label(format!("{l} lanes"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(
            series
                .into_iter()
                .map(|(x, y)| Circle::new((x, y), 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
