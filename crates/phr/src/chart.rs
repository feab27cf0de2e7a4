//! A trend as an SVG chart a page can show as is (plotters' SVG backend; text is left to the
//! browser's fonts, so Japanese titles need nothing installed on the server).

use plotters::prelude::*;

/// One point of a chart: when, the figure, and the lowest and highest readings behind it.
pub type ChartPoint = (jiff::Timestamp, f64, Option<(f64, f64)>);

/// What to draw.
pub struct Chart<'a> {
    /// The caption (e.g. `体重 body weight`).
    pub title: &'a str,
    /// The unit of the values, shown beside the axis.
    pub unit: &'a str,
    pub points: &'a [ChartPoint],
    /// The offset dates are written at (Japan's by default).
    pub offset_seconds: i32,
    /// Bars (figures that add up: steps per day) rather than a line.
    pub bars: bool,
    /// Width of a bar, in seconds (the bucket's length).
    pub bucket_seconds: i64,
}

const WIDTH: u32 = 800;
const HEIGHT: u32 = 320;

/// The chart as an SVG document.
pub fn svg(chart: &Chart) -> Result<String, String> {
    let mut out = String::new();
    draw(chart, &mut out).map_err(|e| format!("the chart could not be drawn: {e}"))?;
    Ok(out)
}

fn draw<'o>(chart: &Chart, out: &'o mut String) -> Result<(), Box<dyn std::error::Error + 'o>> {
    let root = SVGBackend::with_string(out, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let offset =
        jiff::tz::Offset::from_seconds(chart.offset_seconds).unwrap_or(jiff::tz::Offset::UTC);
    let zone = jiff::tz::TimeZone::fixed(offset);
    if chart.points.is_empty() {
        root.draw(&Text::new(
            format!(
                "{} — no measurements in this period / この期間の測定値はありません",
                chart.title
            ),
            (20, (HEIGHT / 2) as i32),
            ("sans-serif", 16).into_font(),
        ))?;
        root.present()?;
        return Ok(());
    }
    let secs = |t: &jiff::Timestamp| t.as_second();
    let x0 = chart.points.iter().map(|p| secs(&p.0)).min().unwrap_or(0);
    let x1 =
        chart.points.iter().map(|p| secs(&p.0)).max().unwrap_or(0) + chart.bucket_seconds.max(1);
    let lows = chart.points.iter().map(|p| p.2.map_or(p.1, |r| r.0));
    let highs = chart.points.iter().map(|p| p.2.map_or(p.1, |r| r.1));
    let mut y0 = lows.fold(f64::INFINITY, f64::min);
    let mut y1 = highs.fold(f64::NEG_INFINITY, f64::max);
    if chart.bars {
        y0 = 0.0;
    }
    let pad = ((y1 - y0) * 0.08).max(1.0);
    y0 = if chart.bars { 0.0 } else { y0 - pad };
    y1 += pad;
    let mut c = ChartBuilder::on(&root)
        .caption(chart.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let span_days = (x1 - x0) / 86_400;
    let label = move |x: &i64| {
        let t = jiff::Timestamp::from_second(*x).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let z = t.to_zoned(zone.clone());
        if span_days > 400 {
            z.strftime("%Y-%m").to_string()
        } else if span_days > 2 {
            z.strftime("%m-%d").to_string()
        } else {
            z.strftime("%H:%M").to_string()
        }
    };
    c.configure_mesh()
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&label)
        .y_desc(chart.unit)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let colour = RGBColor(33, 102, 172);
    if chart.bars {
        let width = chart.bucket_seconds.max(1);
        c.draw_series(chart.points.iter().map(|p| {
            let x = secs(&p.0);
            Rectangle::new(
                [(x + width / 10, 0.0), (x + width - width / 10, p.1)],
                colour.mix(0.8).filled(),
            )
        }))?;
    } else {
        let shade = colour.mix(0.35).stroke_width(2);
        c.draw_series(chart.points.iter().filter_map(|p| {
            let (lo, hi) = p.2?;
            (hi > lo).then(|| PathElement::new(vec![(secs(&p.0), lo), (secs(&p.0), hi)], shade))
        }))?;
        c.draw_series(LineSeries::new(
            chart.points.iter().map(|p| (secs(&p.0), p.1)),
            colour.stroke_width(2),
        ))?;
        c.draw_series(
            chart
                .points
                .iter()
                .map(|p| Circle::new((secs(&p.0), p.1), 3, colour.filled())),
        )?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_svg_with_its_title_and_one_mark_per_point() {
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        let points = [
            (t("2025-01-01T00:00:00+09:00"), 70.2, Some((69.8, 70.6))),
            (t("2025-01-02T00:00:00+09:00"), 70.0, Some((70.0, 70.0))),
            (t("2025-01-03T00:00:00+09:00"), 69.7, Some((69.5, 69.9))),
        ];
        let svg = svg(&Chart {
            title: "体重 body weight",
            unit: "kg",
            points: &points,
            offset_seconds: 9 * 3600,
            bars: false,
            bucket_seconds: 86_400,
        })
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.contains("体重 body weight"));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("01-02"), "dates are labelled in Japan's time");
        let empty = super::svg(&Chart {
            points: &[],
            bars: true,
            ..Chart {
                title: "歩数 steps",
                unit: "steps",
                points: &points,
                offset_seconds: 9 * 3600,
                bars: true,
                bucket_seconds: 86_400,
            }
        })
        .unwrap();
        assert!(empty.contains("no measurements"));
    }
}
