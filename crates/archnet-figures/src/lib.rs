//! PNG figures, drawn with plotters from plain numbers: this crate knows nothing of keys or
//! models, so the callers decide what is shown and the figures only draw it.
//!
//! Text uses DejaVu Sans Mono, embedded (`fonts/`, Bitstream Vera licence), so figures render
//! the same on machines without system fonts.

#![warn(missing_docs)]

use std::path::Path;

use plotters::prelude::*;
use plotters::style::FontStyle;

/// Drawing failed (a file could not be written, a font could not be used).
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot draw figure: {reason}")]
pub struct FigureError {
    /// The figure's file.
    pub path: std::path::PathBuf,
    /// What went wrong.
    pub reason: String,
}

const FONT: &str = "archnet-sans";

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            include_bytes!("../fonts/DejaVuSansMono.ttf"),
        )
        .unwrap_or_else(|_| panic!("the embedded font is a valid TrueType font"));
    });
}

fn err(path: &Path, e: impl std::fmt::Display) -> FigureError {
    FigureError {
        path: path.into(),
        reason: e.to_string(),
    }
}

/// One tile of an image grid: `[C, H, W]` values; C is 1 (grey) or 3 (RGB). Values are mapped to
/// [0, 255] by the tile's own min and max unless `range` fixes them.
pub struct Tile {
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    /// C·H·W values in CHW order.
    pub values: Vec<f32>,
    /// The values shown as black and white; the tile's own min and max when `None`.
    pub range: Option<(f32, f32)>,
}

/// A labelled row of tiles.
pub struct Row {
    /// Written left of the row.
    pub label: String,
    /// Left to right.
    pub tiles: Vec<Tile>,
}

/// Draws rows of image tiles (each scaled up by `zoom`) under a title, with row labels on the
/// left, and writes a PNG.
pub fn image_grid(path: &Path, title: &str, rows: &[Row], zoom: u32) -> Result<(), FigureError> {
    register_font();
    let label_w = 330u32;
    let (tile_h, tile_w) = rows
        .iter()
        .flat_map(|r| &r.tiles)
        .fold((1u32, 1u32), |(h, w), t| {
            (
                h.max(t.shape[1] as u32 * zoom),
                w.max(t.shape[2] as u32 * zoom),
            )
        });
    let cols = rows.iter().map(|r| r.tiles.len()).max().unwrap_or(1) as u32;
    let gap = 4;
    let title_h = 40;
    let width = label_w + cols * (tile_w + gap) + gap;
    let height = title_h + rows.len() as u32 * (tile_h + gap) + gap;
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    root.draw(&Text::new(
        title,
        (10, 10),
        (FONT, 20).into_font().color(&BLACK),
    ))
    .map_err(|e| err(path, e))?;
    for (r, row) in rows.iter().enumerate() {
        let y0 = title_h + r as u32 * (tile_h + gap);
        root.draw(&Text::new(
            row.label.as_str(),
            (10, (y0 + tile_h / 2) as i32 - 8),
            (FONT, 15).into_font().color(&BLACK),
        ))
        .map_err(|e| err(path, e))?;
        for (c, tile) in row.tiles.iter().enumerate() {
            let x0 = label_w + gap + c as u32 * (tile_w + gap);
            draw_tile(&root, tile, x0, y0, zoom).map_err(|e| err(path, e))?;
        }
    }
    root.present().map_err(|e| err(path, e))
}

fn draw_tile(
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    tile: &Tile,
    x0: u32,
    y0: u32,
    zoom: u32,
) -> Result<(), DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>> {
    let [c, h, w] = tile.shape;
    let (lo, hi) = tile.range.unwrap_or_else(|| {
        tile.values
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            })
    });
    let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
    let byte = |v: f32| ((v - lo) * scale).clamp(0.0, 255.0) as u8;
    for y in 0..h {
        for x in 0..w {
            let at = |ch: usize| byte(tile.values[ch * h * w + y * w + x]);
            let color = if c >= 3 {
                RGBColor(at(0), at(1), at(2))
            } else {
                let g = at(0);
                RGBColor(g, g, g)
            };
            let (px, py) = ((x0 + x as u32 * zoom) as i32, (y0 + y as u32 * zoom) as i32);
            root.draw(&Rectangle::new(
                [(px, py), (px + zoom as i32, py + zoom as i32)],
                color.filled(),
            ))?;
        }
    }
    Ok(())
}

/// A named series of (x, y) points.
pub struct Series {
    /// The legend's entry.
    pub name: String,
    /// In x order.
    pub points: Vec<(f64, f64)>,
}

/// Draws line series on one chart (x: `x_label`, y: `y_label`) and writes a PNG.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), FigureError> {
    register_font();
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let points = series.iter().flat_map(|s| &s.points);
    let (x_min, x_max, y_min, y_max) = points.fold(
        (f64::INFINITY, 1.0f64, f64::INFINITY, f64::NEG_INFINITY),
        |(xl, xm, lo, hi), &(x, y)| (xl.min(x), xm.max(x), lo.min(y), hi.max(y)),
    );
    let x_min = if x_min.is_finite() { x_min } else { 1.0 };
    // Headroom above the data for the legend (upper right), so it covers no line: about 20 px
    // per series of the plot's ~440 px.
    let legend = (20.0 * series.len() as f64 + 12.0) / 440.0;
    let (y_min, y_max) = if y_min.is_finite() {
        let y_min = y_min.min(0.0);
        (
            y_min,
            y_min + (y_max - y_min) * 1.03 / (1.0 - legend).max(0.3),
        )
    } else {
        (0.0, 1.0)
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(x_min - 0.5..x_max + 0.5, y_min..y_max.max(y_min + 1e-9))
        .map_err(|e| err(path, e))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style((FONT, 14))
        .draw()
        .map_err(|e| err(path, e))?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(s.points.clone(), color.stroke_width(2)))
            .map_err(|e| err(path, e))?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        // Markers too, so a one-point series still shows.
        chart
            .draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(|e| err(path, e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(path, e))?;
    root.present().map_err(|e| err(path, e))
}

/// Draws one bar per (label, value) with the value printed above it, and writes a PNG.
pub fn bar_chart(
    path: &Path,
    title: &str,
    y_label: &str,
    bars: &[(String, f64)],
) -> Result<(), FigureError> {
    register_font();
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let y_max = bars.iter().map(|b| b.1).fold(1.0f64, f64::max) * 1.15;
    let y_min = bars.iter().map(|b| b.1).fold(0.0f64, f64::min) * 1.15;
    let n = bars.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(0.0..n as f64, y_min..y_max)
        .map_err(|e| err(path, e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(y_label)
        .label_style((FONT, 14))
        .draw()
        .map_err(|e| err(path, e))?;
    for (i, (label, value)) in bars.iter().enumerate() {
        let x = i as f64;
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x + 0.15, 0.0), (x + 0.85, *value)],
                color.filled(),
            )))
            .map_err(|e| err(path, e))?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{value:.2}"),
                (x + 0.3, value.max(0.0) + y_max * 0.02),
                (FONT, 14),
            )))
            .map_err(|e| err(path, e))?;
        chart
            .draw_series(std::iter::once(Text::new(
                label.clone(),
                (x + 0.1, y_min + (y_max - y_min) * 0.95),
                (FONT, 13),
            )))
            .map_err(|e| err(path, e))?;
    }
    root.present().map_err(|e| err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_has_the_planned_size_and_tiles() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("grid.png");
        let tile = |v: f32| Tile {
            shape: [1, 2, 2],
            values: vec![0.0, v, v, 1.0],
            range: Some((0.0, 1.0)),
        };
        let rows = vec![
            Row {
                label: "a".into(),
                tiles: vec![tile(0.5), tile(0.25)],
            },
            Row {
                label: "b".into(),
                tiles: vec![tile(1.0)],
            },
        ];
        image_grid(&p, "test", &rows, 10).unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        // 330 label + 2 × (20 + 4) + 4 wide; 40 title + 2 × (20 + 4) + 4 high.
        assert_eq!((img.width(), img.height()), (382, 92));
        // First tile's top-left pixel is value 0 (black), its bottom-right value 1 (white).
        assert_eq!(img.get_pixel(334 + 2, 40 + 2).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(334 + 15, 40 + 15).0, [255, 255, 255]);
    }

    #[test]
    fn charts_render() {
        let t = tempfile::tempdir().unwrap();
        let s = vec![Series {
            name: "x".into(),
            points: vec![(1.0, 0.5), (2.0, 0.9)],
        }];
        line_chart(&t.path().join("l.png"), "curves", "epoch", "accuracy", &s).unwrap();
        bar_chart(
            &t.path().join("b.png"),
            "EC",
            "%",
            &[("ArchNet".into(), 1.0), ("RC4".into(), 87.0)],
        )
        .unwrap();
        assert!(image::open(t.path().join("b.png")).unwrap().width() == 900);
    }
}
