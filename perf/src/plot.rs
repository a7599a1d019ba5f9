//! The SVG percentile plot: latency (µs, log axis) against 1/(1−p) (log axis, labelled 90%,
//! 99%, 99.9%…), one line per latency row, a legend and the run's options as the title. Drawn
//! with `plotters`' SVG backend, which writes text as SVG `<text>` (no fonts needed).
//!
//! Owns: the drawing. May not touch: files (the caller writes the string) or the results.

use hdrhistogram::Histogram;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::hgrm::steps;
use crate::runner::Res;

/// One line of the plot.
pub struct Line<'a> {
    /// The legend entry.
    pub label: String,
    /// The latencies, ns.
    pub histogram: &'a Histogram<u64>,
    /// Drawn thin and pale (service time beside the corrected latency of the same row).
    pub secondary: bool,
}

const COLOURS: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// The x label of a power of ten `1/(1−p)`: 1 → 0%, 10 → 90%, 100 → 99%, 1000 → 99.9%…
fn percentile_label(x: f64) -> String {
    let nines = x.log10().round() as i32;
    match nines {
        i32::MIN..=0 => "0%".into(),
        1 => "90%".into(),
        2 => "99%".into(),
        n => format!("99.{}%", "9".repeat((n - 2) as usize)),
    }
}

/// The (1/(1−p), µs) points of a histogram, the 100% step left out (it has no finite x).
fn points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    steps(h)
        .into_iter()
        .filter(|s| s.quantile < 1.0)
        .map(|s| {
            (
                1.0 / (1.0 - s.quantile),
                (s.value as f64 / 1000.0).max(0.001),
            )
        })
        .collect()
}

fn draw_err(e: impl std::fmt::Display) -> String {
    format!("plot: {e}")
}

/// The SVG text of the plot, `title` one text line per entry above it.
pub fn percentile_svg(title: &[String], lines: &[Line<'_>]) -> Res<String> {
    let series: Vec<(&Line<'_>, Vec<(f64, f64)>)> =
        lines.iter().map(|l| (l, points(l.histogram))).collect();
    let all = series.iter().flat_map(|(_, p)| p.iter());
    let (x_max, y_min, y_max) = all.fold((10.0f64, f64::MAX, 0.0f64), |(x, lo, hi), p| {
        (x.max(p.0), lo.min(p.1), hi.max(p.1))
    });
    let decades = x_max.log10().ceil().max(1.0) as i32;
    let x_end = 10f64.powi(decades);
    let (y_lo, y_hi) = if y_max > 0.0 {
        (
            10f64.powf(y_min.log10().floor()),
            10f64.powf(y_max.log10().ceil()),
        )
    } else {
        (1.0, 10.0)
    };
    let keys: Vec<f64> = (0..=decades).map(|d| 10f64.powi(d)).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let title_height = 12 + 20 * u32::try_from(title.len()).unwrap_or(0);
        let (head, body) = root.split_vertically(title_height);
        let centred =
            TextStyle::from(("sans-serif", 15).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        for (i, text) in title.iter().enumerate() {
            let y = 10 + 20 * i32::try_from(i).unwrap_or(0);
            head.draw_text(text, &centred, (500, y)).map_err(draw_err)?;
        }
        let mut chart = ChartBuilder::on(&body)
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(
                (1.0..x_end).log_scale().with_key_points(keys),
                (y_lo..y_hi).log_scale(),
            )
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("percentile (axis: 1/(1-p), log)")
            .y_desc("latency (µs, log)")
            .x_label_formatter(&|x| percentile_label(*x))
            .y_label_formatter(&|y| format!("{y}"))
            .draw()
            .map_err(draw_err)?;
        let mut colour = 0usize;
        for (line, pts) in series {
            if pts.is_empty() {
                continue;
            }
            // A secondary line takes the colour of the main line drawn just before it.
            if !line.secondary {
                colour += 1;
            }
            let base = COLOURS[colour.saturating_sub(1) % COLOURS.len()];
            let style = if line.secondary {
                base.mix(0.45).stroke_width(1)
            } else {
                base.stroke_width(2)
            };
            chart
                .draw_series(LineSeries::new(pts, style))
                .map_err(draw_err)?
                .label(line.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_count_the_nines() {
        assert_eq!(percentile_label(1.0), "0%");
        assert_eq!(percentile_label(10.0), "90%");
        assert_eq!(percentile_label(100.0), "99%");
        assert_eq!(percentile_label(1000.0), "99.9%");
        assert_eq!(percentile_label(100_000.0), "99.999%");
    }
}
