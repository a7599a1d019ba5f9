//! HdrHistogram's percentile-distribution text (`.hgrm`), as its `outputPercentileDistribution`
//! prints it and its plotter reads it: a `Value Percentile TotalCount 1/(1-Percentile)` header,
//! one row per percentile step (five steps per halving of the distance to 100%), the last row
//! without the `1/(1-Percentile)` column, then the Mean/StdDeviation, Max/Total count and
//! Buckets/SubBuckets footer.
//!
//! Owns: the percentile steps of a histogram and their text. May not touch: files (the caller
//! writes them) or the histogram's contents.

use std::fmt::Write;

use hdrhistogram::Histogram;

/// Percentile steps per halving of the distance to 100% (HdrHistogram's default).
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// One percentile step of a histogram.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The highest value equivalent to the bucket reached (the histogram's unit).
    pub value: u64,
    /// The percentile iterated to, 0 to 1.
    pub quantile: f64,
    /// Values recorded at or below `value`.
    pub total: u64,
}

/// The percentile steps of `h`, in HdrHistogram's order (empty for an empty histogram).
pub fn steps(h: &Histogram<u64>) -> Vec<Step> {
    let mut total = 0u64;
    h.iter_quantiles(TICKS_PER_HALF_DISTANCE)
        .map(|v| {
            total += v.count_since_last_iteration();
            Step {
                value: v.value_iterated_to(),
                quantile: v.quantile_iterated_to(),
                total,
            }
        })
        .collect()
}

/// Sub-buckets per bucket of a histogram with `sigfig` significant digits (HdrHistogram keeps
/// this private; it is the power of two at or above 2 × 10^sigfig).
fn sub_buckets(sigfig: u8) -> u64 {
    (2 * 10u64.pow(u32::from(sigfig))).next_power_of_two()
}

/// The `.hgrm` text of `h`, values divided by `unit` (1000 turns ns into µs).
pub fn percentile_distribution(h: &Histogram<u64>, unit: f64) -> String {
    let digits = usize::from(h.sigfig());
    let mut out = String::new();
    let _ = write!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    for step in steps(h) {
        let value = step.value as f64 / unit;
        if step.quantile < 1.0 {
            let _ = writeln!(
                out,
                "{value:>12.digits$} {:>2.12} {:>10} {:>14.2}",
                step.quantile,
                step.total,
                1.0 / (1.0 - step.quantile)
            );
        } else {
            let _ = writeln!(
                out,
                "{value:>12.digits$} {:>2.12} {:>10}",
                step.quantile, step.total
            );
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:>12.digits$}, StdDeviation   = {:>12.digits$}]",
        h.mean() / unit,
        h.stdev() / unit
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12.digits$}, Total count    = {:>12}]",
        h.max() as f64 / unit,
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_buckets(h.sigfig())
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_digit_histograms_have_2048_sub_buckets() {
        assert_eq!(sub_buckets(3), 2048);
        assert_eq!(sub_buckets(2), 256);
    }

    #[test]
    fn steps_climb_to_the_total_and_end_at_100_percent() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for v in 1..=10_000u64 {
            h.record(v * 100).unwrap();
        }
        let steps = steps(&h);
        let last = steps.last().unwrap();
        assert_eq!(last.quantile, 1.0);
        assert_eq!(last.total, 10_000);
        assert_eq!(last.value, h.highest_equivalent(h.max()));
        for pair in steps.windows(2) {
            assert!(pair[0].quantile <= pair[1].quantile);
            assert!(pair[0].total <= pair[1].total);
            assert!(pair[0].value <= pair[1].value);
        }
        let text = percentile_distribution(&h, 1000.0);
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
        assert!(
            text.contains("#[Max     =     1000.447, Total count    =        10000]"),
            "{text}"
        );
    }
}
