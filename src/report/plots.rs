//! Figures with `plotters`. Text is laid out with DejaVu Sans embedded in the binary (crate `dejavu`,
//! via plotters' `ab_glyph` feature), so no system font is needed.
//!
//! # Paper figures
//! The figures of a run ([`timeline`], [`latency_cdf`]), of a study (`crate::study::figures`) and of
//! `flexrnn eval` (`crate::eval::figures`) are drawn once as SVG at a print width,
//! [`SVG_PX_PER_INCH`] SVG pixels to the inch, and [`export`]ed from that SVG: a PDF (`svg2pdf`, vector, the used glyphs of DejaVu Sans embedded) and a PNG at
//! [`PNG_DPI`] (`resvg`). Both read the SVG through `usvg` with a font database that holds only the
//! embedded DejaVu faces ([`font_database`]): the output is the same on every machine, and no system
//! font is looked up. [`paper_files`] draws a figure at both [`WIDTHS`]:
//!
//! | file | width |
//! |---|---|
//! | `<stem>.svg`, `<stem>.pdf`, `<stem>.png` | one paper column, 3.5 in (the PNG 1050 px wide) |
//! | `<stem>-wide.svg`, `<stem>-wide.pdf`, `<stem>-wide.png` | two columns, 7 in (the PNG 2100 px wide) |
//!
//! Text keeps its size at both widths (9–10 SVG px, about 7 pt printed): the wide figure is laid out
//! anew, not scaled up. The PDF carries no date, so the same figure gives the same bytes.
//!
//! # Colours and line styles
//! [`PALETTE`]: the eight Okabe–Ito colours, which stay distinguishable under the common
//! colour-vision deficiencies, then four of Paul Tol's muted scheme (indigo, wine, olive, teal) for
//! series 9 to 12. Series from the ninth on are also drawn dashed ([`series_dash`], a pattern each),
//! and the study figures give every series a marker shape as well, so that up to twelve policies stay
//! apart even where two colours are close.

use std::sync::{Arc, Once, OnceLock};

use plotters::coord::{CoordTranslate, Shift};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use resvg::{tiny_skia, usvg};

/// Series colours: Okabe–Ito blue, vermillion, bluish green, orange, reddish purple, sky blue,
/// yellow, black; then Paul Tol's muted indigo, wine, olive and teal.
pub const PALETTE: [RGBColor; 12] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(230, 159, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
    RGBColor(51, 34, 136),
    RGBColor(136, 34, 85),
    RGBColor(153, 153, 51),
    RGBColor(68, 170, 153),
];

/// The colours drawn solid: series from this index on are dashed too ([`series_dash`]).
pub const SOLID_SERIES: usize = 8;

/// Dash patterns (dash, gap; SVG pixels) of series `SOLID_SERIES..`, in turn.
const DASHES: [(u32, u32); 4] = [(6, 3), (2, 2), (9, 3), (4, 4)];

/// Colour of series `index` (policies keep their index in every figure).
pub fn series_colour(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// Dash pattern of series `index` as (dash, gap) in SVG pixels: `None` (solid) for the first
/// [`SOLID_SERIES`], then one of four patterns each, in turn.
pub fn series_dash(index: usize) -> Option<(u32, u32)> {
    (index % PALETTE.len() >= SOLID_SERIES).then(|| DASHES[(index % PALETTE.len() - SOLID_SERIES) % DASHES.len()])
}

/// SVG pixels per printed inch (a 3.5-inch column is [`COLUMN_WIDTH`] pixels).
pub const SVG_PX_PER_INCH: f32 = 100.0;
/// Resolution of the PNG files, dots per inch.
pub const PNG_DPI: u32 = 300;
/// Width of a one-column figure, SVG pixels (3.5 in; its PNG is 1050 px wide).
pub const COLUMN_WIDTH: u32 = 350;
/// Width of a two-column figure, SVG pixels (7 in; its PNG is 2100 px wide).
pub const WIDE_WIDTH: u32 = 700;
/// The widths every paper figure is drawn at: (file-name suffix, width in SVG pixels).
pub const WIDTHS: [(&str, u32); 2] = [("", COLUMN_WIDTH), ("-wide", WIDE_WIDTH)];

/// Grid lines: 8 % black on white, opaque. Every colour of the paper figures is opaque: a translucent
/// element becomes a PDF transparency group, and `svg2pdf` lists several of them in hash-map order,
/// which would change the PDF's bytes from run to run.
pub(crate) const GRID: RGBColor = RGBColor(235, 235, 235);

/// The timeline's background-load area: 45 % of a mid grey on white, opaque.
const BACKGROUND_LOAD: RGBColor = RGBColor(208, 208, 208);

/// Font sizes of paper figures, SVG pixels (10 px print at about 7 pt).
pub(crate) const TICK_FONT: f64 = 9.0;
pub(crate) const AXIS_FONT: f64 = 10.0;
pub(crate) const LEGEND_FONT: f64 = 9.0;
pub(crate) const PANEL_FONT: f64 = 9.5;

/// Draws series `index`'s line in its colour ([`series_colour`]) and, from the ninth series, its dash
/// pattern ([`series_dash`]).
pub(crate) fn draw_series_line<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'_, DB, CT>,
    s: Scale,
    index: usize,
    points: Vec<(f64, f64)>,
) -> Result<(), String> {
    let style = s.stroke(series_colour(index), 1.5);
    match series_dash(index) {
        Some((dash, gap)) => chart
            .draw_series(DashedLineSeries::new(points, s.px(f64::from(dash)), s.px(f64::from(gap)), style))
            .map(|_| ()),
        None => chart.draw_series(LineSeries::new(points, style)).map(|_| ()),
    }
    .map_err(err)
}

/// The paper style of a chart's mesh, shared by every figure: tick labels at [`TICK_FONT`], axis
/// titles at [`AXIS_FONT`], light grey major grid lines (0.5 pt), no minor grid, 3-pt tick marks.
pub(crate) fn paper_mesh<'m, 'a, 'b, X, Y, XT, YT, DB>(
    mesh: &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>,
    s: Scale,
) -> &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>
where
    X: plotters::coord::ranged1d::Ranged<ValueType = XT> + plotters::coord::ranged1d::ValueFormatter<XT>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = YT> + plotters::coord::ranged1d::ValueFormatter<YT>,
    DB: DrawingBackend,
{
    mesh.label_style(s.font(TICK_FONT))
        .axis_desc_style(s.font(AXIS_FONT))
        .bold_line_style(GRID.stroke_width(s.px(0.5).max(1)))
        .light_line_style(TRANSPARENT)
        .set_all_tick_mark_size(s.i(3.0))
}

/// Draws the deadline: a dashed black vertical line at `x` from 0 to `y_top`, in chart coordinates.
pub(crate) fn draw_deadline<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'_, DB, CT>,
    s: Scale,
    x: f64,
    y_top: f64,
) -> Result<(), String> {
    chart
        .draw_series(DashedLineSeries::new(vec![(x, 0.0), (x, y_top)], s.px(4.0), s.px(3.0), s.stroke(BLACK, 1.0)))
        .map(|_| ())
        .map_err(err)
}

/// Family name under which [`register_fonts`] registers the embedded DejaVu Sans, and which the SVG
/// files name (the generic family, which [`font_database`] maps to DejaVu Sans).
pub(crate) const FONT: &str = "sans-serif";

/// The family name of the embedded DejaVu Sans faces.
pub const EMBEDDED_FAMILY: &str = "DejaVu Sans";

/// Registers the embedded font once per process.
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded DejaVu files are valid fonts; a failure here would be a packaging bug.
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .ok()
            .expect("embedded DejaVu Sans parses");
        plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold())
            .ok()
            .expect("embedded DejaVu Sans Bold parses");
    });
}

/// A plotting failure (a bug or an impossible size; the message says which figure).
#[derive(Debug, Clone, thiserror::Error)]
#[error("figure `{figure}`: {message}")]
pub struct PlotError {
    /// Figure name.
    pub figure: String,
    /// What failed.
    pub message: String,
}

/// Draws `$body` once into an SVG of `$size` (SVG pixels) and gives the SVG text; `?` on a drawing
/// error returns a [`PlotError`] naming `$name`. The body sees the drawing area as `$area` and a
/// scale factor `$scale` (always 1: the PNG is rasterised from the SVG by [`export`]).
macro_rules! render_svg {
    ($name:expr, $size:expr, |$area:ident, $scale:ident| $body:block) => {{
        use ::plotters::prelude::*;
        $crate::report::plots::register_fonts();
        let fail = |message: String| $crate::report::plots::PlotError { figure: $name.to_string(), message };
        let mut svg = String::new();
        {
            let $scale: f64 = 1.0;
            let $area = SVGBackend::with_string(&mut svg, $size).into_drawing_area();
            let result: Result<(), String> = (|| $body)();
            result.map_err(fail)?;
            $area.present().map_err(|e| fail(e.to_string()))?;
        }
        svg
    }};
}
pub(crate) use render_svg;

/// A figure ready for a paper: the SVG it was drawn as, and the PDF and PNG made from it.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperFigure {
    /// SVG document (width in SVG pixels, [`SVG_PX_PER_INCH`] to the inch).
    pub svg: String,
    /// PDF document, one page of the figure's printed size, the glyphs used embedded.
    pub pdf: Vec<u8>,
    /// PNG file at [`PNG_DPI`] (its physical size recorded in a `pHYs` chunk).
    pub png: Vec<u8>,
}

/// The font database of [`export`]: the embedded DejaVu Sans (regular and bold) and nothing else, the
/// generic `sans-serif` family mapped to it. Built once per process.
pub fn font_database() -> Arc<usvg::fontdb::Database> {
    static FONTS: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut database = usvg::fontdb::Database::new();
            database.load_font_data(dejavu::sans::regular().to_vec());
            database.load_font_data(dejavu::sans::bold().to_vec());
            database.set_sans_serif_family(EMBEDDED_FAMILY);
            Arc::new(database)
        })
        .clone()
}

/// Makes the PDF and the PNG of an SVG figure (see the module documentation).
///
/// # Errors
/// [`PlotError`] naming `name` if the SVG does not parse or the conversion fails (a bug: the SVG
/// comes from plotters and the font is embedded).
pub fn export(name: &str, svg: String) -> Result<PaperFigure, PlotError> {
    let fail = |message: String| PlotError { figure: name.to_string(), message };
    let options =
        usvg::Options { font_family: EMBEDDED_FAMILY.to_string(), fontdb: font_database(), ..usvg::Options::default() };
    let tree = usvg::Tree::from_str(&svg, &options).map_err(|e| fail(e.to_string()))?;
    let pdf =
        svg2pdf::to_pdf(&tree, svg2pdf::ConversionOptions::default(), svg2pdf::PageOptions { dpi: SVG_PX_PER_INCH })
            .map_err(|e| fail(e.to_string()))?;
    let scale = PNG_DPI as f32 / SVG_PX_PER_INCH;
    let (width, height) = ((tree.size().width() * scale).round() as u32, (tree.size().height() * scale).round() as u32);
    let mut pixmap = tiny_skia::Pixmap::new(width, height)
        .ok_or_else(|| fail(format!("cannot make an image of {width} × {height} pixels")))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::from_scale(scale, scale), &mut pixmap.as_mut());
    // On the opaque white background every pixel is opaque, so the premultiplied colour is the colour.
    let rgb: Vec<u8> = pixmap.data().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        // 300 dpi = 11 811 pixels per metre.
        let per_metre = (f64::from(PNG_DPI) / 0.0254).round() as u32;
        encoder.set_pixel_dims(Some(png::PixelDimensions { xppu: per_metre, yppu: per_metre, unit: png::Unit::Meter }));
        let mut writer = encoder.write_header().map_err(|e| fail(e.to_string()))?;
        writer.write_image_data(&rgb).map_err(|e| fail(e.to_string()))?;
    }
    Ok(PaperFigure { svg, pdf, png })
}

/// Every file of the figure `stem` drawn by `draw` (given the width in SVG pixels) at each of
/// [`WIDTHS`]: `<stem>.svg`, `<stem>.pdf`, `<stem>.png`, then the same with `-wide`, as (file name,
/// bytes).
///
/// # Errors
/// The first [`PlotError`] of drawing or exporting.
pub fn paper_files(
    stem: &str,
    draw: impl Fn(u32) -> Result<String, PlotError>,
) -> Result<Vec<(String, Vec<u8>)>, PlotError> {
    let mut files = Vec::new();
    for (suffix, width) in WIDTHS {
        let figure = export(stem, draw(width)?)?;
        files.push((format!("{stem}{suffix}.svg"), figure.svg.into_bytes()));
        files.push((format!("{stem}{suffix}.pdf"), figure.pdf));
        files.push((format!("{stem}{suffix}.png"), figure.png));
    }
    Ok(files)
}

/// A drawing error as text (what the drawing closures of the render macros return).
pub(crate) fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

// ---------------------------------------------------------------------------------------------
// Legends and markers shared by the run and study figures

/// Legend geometry, SVG pixels.
const LEGEND_ROW: f64 = 13.0;
const LEGEND_SWATCH: f64 = 16.0;
const LEGEND_GAP: f64 = 4.0;
const LEGEND_COLUMN_GAP: f64 = 12.0;
const LEGEND_MARGIN: f64 = 6.0;

/// Number of marker shapes (circle, square, triangle, diamond, inverted triangle, cross).
pub(crate) const SHAPES: usize = 6;

/// Scale of one rendering: multiplies every size given in SVG pixels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale(pub(crate) f64);

impl Scale {
    pub(crate) fn px(self, v: f64) -> u32 {
        (v * self.0).round().max(0.0) as u32
    }
    pub(crate) fn i(self, v: f64) -> i32 {
        (v * self.0).round() as i32
    }
    pub(crate) fn font(self, size: f64) -> FontDesc<'static> {
        (FONT, size * self.0).into_font()
    }
    pub(crate) fn stroke(self, colour: RGBColor, width: f64) -> ShapeStyle {
        colour.stroke_width(self.px(width).max(1))
    }
}

/// Draws a marker of `shape` centred on `at`, radius about `r` backend pixels.
pub(crate) fn draw_marker<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    shape: usize,
    at: CT::From,
    r: i32,
    colour: RGBColor,
    s: Scale,
) -> Result<(), String>
where
    CT::From: Clone,
{
    let r = r.max(1);
    let fill = colour.filled();
    let t = r + r / 4; // triangles and diamonds look smaller than circles of the same radius
    match shape % SHAPES {
        0 => area.draw(&(EmptyElement::at(at) + Circle::new((0, 0), r, fill))),
        1 => area.draw(&(EmptyElement::at(at) + Rectangle::new([(1 - r, 1 - r), (r - 1, r - 1)], fill))),
        2 => area.draw(&(EmptyElement::at(at) + Polygon::new(vec![(0, -t), (t, r - 1), (-t, r - 1)], fill))),
        3 => area.draw(&(EmptyElement::at(at) + Polygon::new(vec![(0, -t), (t, 0), (0, t), (-t, 0)], fill))),
        4 => area.draw(&(EmptyElement::at(at) + Polygon::new(vec![(0, t), (t, 1 - r), (-t, 1 - r)], fill))),
        _ => {
            let line = s.stroke(colour, 1.5);
            area.draw(
                &(EmptyElement::at(at)
                    + PathElement::new(vec![(-r, -r), (r, r)], line)
                    + PathElement::new(vec![(-r, r), (r, -r)], line)),
            )
        }
    }
    .map_err(err)
}

/// How a legend entry is drawn.
#[derive(Debug, Clone)]
pub(crate) enum Swatch {
    /// A marker shape on a short line of its colour, the line dashed with a pattern (dash, gap).
    MarkerLine(usize, RGBColor, Option<(u32, u32)>),
    /// A marker alone.
    Marker(usize, RGBColor),
    /// A line, dashed with a pattern (dash, gap) or solid; its width in SVG pixels.
    Line(RGBColor, Option<(u32, u32)>, f64),
    /// A filled block (an area's colour).
    Block(RGBColor),
    /// A cross (marks on the plot).
    Cross(RGBColor),
    /// An open circle.
    Ring(RGBColor),
}

/// One entry of a legend.
#[derive(Debug, Clone)]
pub(crate) struct LegendEntry {
    pub(crate) label: String,
    pub(crate) swatch: Swatch,
}

/// Where the entries of a legend go in a figure: left to right, wrapping to a new row when the next
/// entry does not fit. A label too long for one row of the figure is broken into lines (at spaces
/// and after `_ - / , @ = )`, or anywhere in a word too long for a line); such an entry takes rows
/// of its own. No legend text leaves the figure, however long the policy or setting names.
#[derive(Debug, Clone)]
pub(crate) struct LegendLayout {
    /// Left end (SVG pixels) and first row of each entry.
    positions: Vec<(f64, usize)>,
    /// The text lines of each entry (one unless its label is wider than the figure).
    lines: Vec<Vec<String>>,
    rows: usize,
}

impl LegendLayout {
    /// Height of the legend strip, SVG pixels.
    pub(crate) fn height(&self) -> u32 {
        if self.rows == 0 {
            0
        } else {
            (self.rows as f64 * LEGEND_ROW + 2.0 * LEGEND_MARGIN).round() as u32
        }
    }
}

/// Width of `text` in SVG pixels at font size `size` (the embedded DejaVu Sans; registers it).
pub(crate) fn text_width(text: &str, size: f64) -> f64 {
    register_fonts();
    let font: FontDesc = (FONT, size).into_font();
    font.box_size(text).map_or(text.chars().count() as f64 * size * 0.6, |b| f64::from(b.0))
}

/// `text` broken into lines no wider than `room` SVG pixels at font size `size`: greedily at spaces
/// when that suffices, else at the break points of [`LegendLayout`], a piece still too wide split
/// between characters. Each line
/// keeps at least one character, so a `room` narrower than one glyph gives a line per character.
pub(crate) fn wrap_text(text: &str, size: f64, room: f64) -> Vec<String> {
    // Spaces alone first (`a ↔ b` breaks around the arrow, not inside a name), when that is enough.
    let at_spaces = wrap_at(text, size, room, &[' ']);
    if at_spaces.iter().all(|line| text_width(line, size) <= room) {
        return at_spaces;
    }
    wrap_at(text, size, room, &[' ', '_', '-', '/', ',', '@', '=', ')'])
}

/// [`wrap_text`] breaking after the characters `breaks` only (and between characters in a piece
/// wider than a line).
fn wrap_at(text: &str, size: f64, room: f64, breaks: &[char]) -> Vec<String> {
    // Pieces that end at a break point (the break character stays at the end of its piece).
    let mut pieces: Vec<String> = Vec::new();
    let mut piece = String::new();
    for c in text.chars() {
        piece.push(c);
        if breaks.contains(&c) {
            pieces.push(std::mem::take(&mut piece));
        }
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    let fits = |line: &str| text_width(line.trim_end(), size) <= room;
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for piece in pieces {
        let joined = format!("{line}{piece}");
        if fits(&joined) {
            line = joined;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if fits(&piece) {
            line = piece;
            continue;
        }
        // A piece wider than a line: split it between characters.
        for c in piece.chars() {
            let joined = format!("{line}{c}");
            if line.is_empty() || fits(&joined) {
                line = joined;
            } else {
                lines.push(std::mem::replace(&mut line, c.to_string()));
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines.into_iter().map(|l| l.trim_end().to_string()).collect()
}

/// `text` no wider than `room` SVG pixels at font size `size`: as it is when it fits, else cut at
/// the end and closed with "…".
pub(crate) fn fit_text(text: &str, size: f64, room: f64) -> String {
    if text_width(text, size) <= room {
        return text.to_string();
    }
    let mut kept = String::new();
    for c in text.chars() {
        kept.push(c);
        if text_width(&format!("{kept}…"), size) > room {
            kept.pop();
            break;
        }
    }
    format!("{}…", kept.trim_end())
}

/// `text` as a panel caption no wider than `room` SVG pixels at [`PANEL_FONT`] ([`fit_text`]).
pub(crate) fn fit_caption(text: &str, room: f64) -> String {
    fit_text(text, PANEL_FONT, room)
}

/// Lays the entries out in rows `width` SVG pixels wide (registers the font).
pub(crate) fn legend_layout(entries: &[LegendEntry], width: u32) -> LegendLayout {
    let usable = f64::from(width) - 2.0 * LEGEND_MARGIN;
    let text_room = usable - LEGEND_SWATCH - LEGEND_GAP;
    let mut positions = Vec::with_capacity(entries.len());
    let mut lines = Vec::with_capacity(entries.len());
    let (mut x, mut row) = (0.0, 0);
    for entry in entries {
        let text = text_width(&entry.label, LEGEND_FONT);
        if text <= text_room {
            let entry_width = LEGEND_SWATCH + LEGEND_GAP + text;
            if x > 0.0 && x + entry_width > usable {
                x = 0.0;
                row += 1;
            }
            positions.push((LEGEND_MARGIN + x, row));
            lines.push(vec![entry.label.clone()]);
            x += entry_width + LEGEND_COLUMN_GAP;
        } else {
            // Too wide for a row: its lines take rows of their own, the next entry starts below.
            if x > 0.0 {
                row += 1;
            }
            let wrapped = wrap_text(&entry.label, LEGEND_FONT, text_room);
            positions.push((LEGEND_MARGIN, row));
            row += wrapped.len();
            lines.push(wrapped);
            x = 0.0;
        }
    }
    // `row` is the row the next entry would start on; it is not counted unless an entry is on it.
    let rows = if entries.is_empty() {
        0
    } else if x > 0.0 {
        row + 1
    } else {
        row
    };
    LegendLayout { rows, positions, lines }
}

/// A horizontal line from `x0` to `x1` at `y`, solid or dashed.
fn legend_line<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x0, x1, y): (i32, i32, i32),
    style: ShapeStyle,
    dash: Option<(u32, u32)>,
    s: Scale,
) -> Result<(), String> {
    match dash {
        Some((dash, gap)) => area
            .draw(&DashedPathElement::new(vec![(x0, y), (x1, y)], s.px(f64::from(dash)), s.px(f64::from(gap)), style))
            .map_err(err),
        None => area.draw(&PathElement::new(vec![(x0, y), (x1, y)], style)).map_err(err),
    }
}

/// Draws a legend laid out by [`legend_layout`] on `area`.
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: Scale,
    entries: &[LegendEntry],
    layout: &LegendLayout,
) -> Result<(), String> {
    let text_style = TextStyle::from(s.font(LEGEND_FONT)).pos(Pos::new(HPos::Left, VPos::Center));
    for ((entry, &(x, row)), lines) in entries.iter().zip(&layout.positions).zip(&layout.lines) {
        let y = LEGEND_MARGIN + (row as f64 + 0.5) * LEGEND_ROW;
        let (x0, x1, yc) = (s.i(x), s.i(x + LEGEND_SWATCH), s.i(y));
        match &entry.swatch {
            Swatch::MarkerLine(shape, colour, dash) => {
                legend_line(area, (x0, x1, yc), s.stroke(*colour, 1.5), *dash, s)?;
                draw_marker(area, *shape, ((x0 + x1) / 2, yc), s.i(3.0), *colour, s)?;
            }
            Swatch::Marker(shape, colour) => {
                draw_marker(area, *shape, ((x0 + x1) / 2, yc), s.i(3.0), *colour, s)?;
            }
            Swatch::Line(colour, dash, width) => {
                legend_line(area, (x0, x1, yc), s.stroke(*colour, *width), *dash, s)?;
            }
            Swatch::Block(colour) => {
                area.draw(&Rectangle::new([(x0, yc - s.i(4.0)), (x1, yc + s.i(4.0))], colour.filled())).map_err(err)?;
            }
            Swatch::Cross(colour) => {
                area.draw(&Cross::new(((x0 + x1) / 2, yc), s.i(3.5), s.stroke(*colour, 1.5))).map_err(err)?;
            }
            Swatch::Ring(colour) => {
                area.draw(&Circle::new(((x0 + x1) / 2, yc), s.i(2.5), s.stroke(*colour, 1.5))).map_err(err)?;
            }
        }
        for (k, line) in lines.iter().enumerate() {
            let y_line = s.i(y + k as f64 * LEGEND_ROW);
            area.draw(&Text::new(line.clone(), (s.i(x + LEGEND_SWATCH + LEGEND_GAP), y_line), text_style.clone()))
                .map_err(err)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The figures of a run

/// One panel of the timeline: a run's usage and choices per bin.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelinePanel {
    /// Policy label (panel title).
    pub label: String,
    /// Bin start times, s.
    pub bin_start_s: Vec<f64>,
    /// Mean cores busy with background work per bin.
    pub background_cores: Vec<f64>,
    /// What the policy chose in each bin, on the [`ChoiceAxis`]: the mean over the steps that ended in
    /// the bin of their setting's cost per step (`None`: no step ended).
    pub choice: Vec<Option<f64>>,
    /// Frames that missed their deadline per bin.
    pub misses: Vec<usize>,
    /// On a node of several devices, each device's name and mean busy cores per bin (background and
    /// streams), drawn as a line each on the left axis; empty on a one-device node (nothing drawn).
    pub device_busy: Vec<(String, Vec<f64>)>,
}

/// The right axis of the timeline: what the policies chose, in the same unit for every family.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceAxis {
    /// The line's legend text, naming the family and its knob (e.g. `ThrRNN (model, thr) chosen: its
    /// kFLOP/step`).
    pub legend: String,
    /// The axis description with its unit (e.g. `chosen kFLOP/step`).
    pub label: String,
    /// Largest value of any setting (the axis spans `0..1.2 × max`).
    pub max: f64,
}

/// Height of a timeline panel, SVG pixels, at a figure width.
fn timeline_panel_height(width: u32) -> u32 {
    if width < 500 {
        170
    } else {
        190
    }
}

/// The timeline figure of the stream `stream`, `width` SVG pixels wide: one panel per run; background load (grey area, left
/// axis, cores), what the policy chose (line, right axis, [`ChoiceAxis`]), bins with deadline misses
/// (vermillion crosses at the top) and, on a node of several devices, each device's busy cores (a
/// line each, left axis). `cores` is the left axis's scale: every core of the node.
///
/// # Errors
/// [`PlotError`] if drawing fails.
pub fn timeline(
    panels: &[TimelinePanel],
    stream: &str,
    cores: usize,
    choice: &ChoiceAxis,
    horizon_s: f64,
    width: u32,
) -> Result<String, PlotError> {
    let background = BACKGROUND_LOAD;
    let mut entries = vec![
        LegendEntry {
            label: format!("background load as served (cores of {cores}, left axis)"),
            swatch: Swatch::Block(background),
        },
        LegendEntry { label: format!("{} (right axis)", choice.legend), swatch: Swatch::Line(PALETTE[0], None, 1.5) },
        LegendEntry {
            label: format!("bin where stream `{stream}` missed deadlines"),
            swatch: Swatch::Cross(PALETTE[1]),
        },
    ];
    if let Some(panel) = panels.first() {
        for (index, (name, _)) in panel.device_busy.iter().enumerate() {
            entries.push(LegendEntry {
                label: format!("busy cores on {name}"),
                swatch: Swatch::Line(series_colour(2 + index), None, 1.0),
            });
        }
    }
    let layout = legend_layout(&entries, width);
    let panel_height = timeline_panel_height(width);
    let height = layout.height() + panel_height * panels.len().max(1) as u32;
    let cores_top = cores as f64 * 1.15;
    let choice_top = if choice.max.is_finite() && choice.max > 0.0 { choice.max * 1.2 } else { 1.0 };
    Ok(render_svg!("timeline", (width, height), |root, scale| {
        let s = Scale(scale);
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically(s.px(f64::from(layout.height())));
        draw_legend(&top, s, &entries, &layout)?;
        let areas = body.split_evenly((panels.len().max(1), 1));
        for (panel, area) in panels.iter().zip(areas.iter()) {
            let caption = fit_caption(&panel.label, f64::from(area.dim_in_pixel().0) / scale - 6.0);
            let mut chart = ChartBuilder::on(area)
                .caption(caption, s.font(PANEL_FONT))
                .margin_top(s.px(2.0))
                .margin_left(s.px(2.0))
                .margin_right(s.px(2.0))
                .margin_bottom(s.px(2.0))
                .x_label_area_size(s.px(28.0))
                .y_label_area_size(s.px(36.0))
                .right_y_label_area_size(s.px(40.0))
                .build_cartesian_2d(0f64..horizon_s, 0f64..cores_top)
                .map_err(err)?
                .set_secondary_coord(0f64..horizon_s, 0f64..choice_top);
            paper_mesh(
                chart
                    .configure_mesh()
                    .x_desc("simulation time (s)")
                    .y_desc("background (cores)")
                    .x_labels(if width < 500 { 6 } else { 10 })
                    .y_labels(5)
                    .x_label_formatter(&|v| format!("{v:.0}"))
                    .y_label_formatter(&|v| format!("{v:.1}")),
                s,
            )
            .draw()
            .map_err(err)?;
            let choice_decimals = if choice_top >= 10.0 { 0 } else { 1 };
            chart
                .configure_secondary_axes()
                .y_desc(choice.label.as_str())
                .y_labels(5)
                .y_label_formatter(&|v| format!("{v:.choice_decimals$}"))
                .label_style(s.font(TICK_FONT))
                .axis_desc_style(s.font(AXIS_FONT))
                .set_all_tick_mark_size(s.i(3.0))
                .draw()
                .map_err(err)?;
            let half = panel.bin_start_s.get(1).map_or(0.5, |b| b - panel.bin_start_s[0]) / 2.0;
            chart
                .draw_series(AreaSeries::new(
                    panel.bin_start_s.iter().zip(&panel.background_cores).map(|(t, c)| (t + half, *c)),
                    0.0,
                    background,
                ))
                .map_err(err)?;
            for (index, (_, busy)) in panel.device_busy.iter().enumerate() {
                chart
                    .draw_series(LineSeries::new(
                        panel.bin_start_s.iter().zip(busy).map(|(t, c)| (t + half, *c)),
                        s.stroke(series_colour(2 + index), 1.0),
                    ))
                    .map_err(err)?;
            }
            // The choice line, broken where no step ended.
            let mut segment: Vec<(f64, f64)> = Vec::new();
            let mut segments = Vec::new();
            for (t, v) in panel.bin_start_s.iter().zip(&panel.choice) {
                match v {
                    Some(v) => segment.push((t + half, *v)),
                    None if !segment.is_empty() => segments.push(std::mem::take(&mut segment)),
                    None => {}
                }
            }
            if !segment.is_empty() {
                segments.push(segment);
            }
            for segment in segments {
                chart.draw_secondary_series(LineSeries::new(segment, s.stroke(PALETTE[0], 1.5))).map_err(err)?;
            }
            let mark = choice_top * 0.95;
            chart
                .draw_secondary_series(
                    panel
                        .bin_start_s
                        .iter()
                        .zip(&panel.misses)
                        .filter(|(_, m)| **m > 0)
                        .map(|(t, _)| Cross::new((t + half, mark), s.i(3.0), s.stroke(PALETTE[1], 1.2))),
                )
                .map_err(err)?;
        }
        Ok(())
    }))
}

/// Empirical CDFs of frame latency, `width` SVG pixels wide, one line per run (colour and dash of
/// its index), with the deadline as a dashed black line.
///
/// `latencies_s` are sorted ascending per run.
///
/// # Errors
/// [`PlotError`] if drawing fails.
pub fn latency_cdf(
    runs: &[(String, Vec<f64>)],
    deadline_s: Option<f64>,
    stream: &str,
    width: u32,
) -> Result<String, PlotError> {
    let max_ms = runs.iter().filter_map(|(_, l)| l.last()).fold(deadline_s.unwrap_or(0.0), |a, &b| a.max(b)).max(1e-6)
        * 1e3
        * 1.05;
    let mut entries: Vec<LegendEntry> = runs
        .iter()
        .enumerate()
        .map(|(i, (label, _))| LegendEntry {
            label: label.clone(),
            swatch: Swatch::Line(series_colour(i), series_dash(i), 1.5),
        })
        .collect();
    if let Some(d) = deadline_s {
        entries.push(LegendEntry {
            label: format!("deadline ({} ms)", short_number(d * 1e3)),
            swatch: Swatch::Line(BLACK, Some((4, 3)), 1.0),
        });
    }
    let layout = legend_layout(&entries, width);
    let plot_height = if width < 500 { 230 } else { 300 };
    let height = layout.height() + plot_height;
    let x_decimals = if max_ms >= 20.0 { 0 } else { 1 };
    Ok(render_svg!("latency_cdf", (width, height), |root, scale| {
        let s = Scale(scale);
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically(s.px(f64::from(layout.height())));
        draw_legend(&top, s, &entries, &layout)?;
        let mut chart = ChartBuilder::on(&body)
            .caption(
                fit_caption(
                    &format!("frame latency of stream `{stream}` (completed frames)"),
                    f64::from(body.dim_in_pixel().0) / scale - 6.0,
                ),
                s.font(PANEL_FONT),
            )
            .margin_top(s.px(2.0))
            .margin_right(s.px(10.0))
            .margin_left(s.px(2.0))
            .margin_bottom(s.px(2.0))
            .x_label_area_size(s.px(28.0))
            .y_label_area_size(s.px(40.0))
            .build_cartesian_2d(0f64..max_ms, 0f64..1.0)
            .map_err(err)?;
        paper_mesh(
            chart
                .configure_mesh()
                .x_desc("latency, release to end (ms)")
                .y_desc("fraction of frames ≤ latency")
                .x_labels(if width < 500 { 6 } else { 10 })
                .y_labels(6)
                .x_label_formatter(&|v| format!("{v:.x_decimals$}"))
                .y_label_formatter(&|v| format!("{v:.1}")),
            s,
        )
        .draw()
        .map_err(err)?;
        for (i, (_, latencies)) in runs.iter().enumerate() {
            let n = latencies.len().max(1) as f64;
            // Step function, thinned to at most ~2000 points.
            let stride = (latencies.len() / 2000).max(1);
            let mut points = vec![(0.0, 0.0)];
            for (k, v) in latencies.iter().enumerate().step_by(stride) {
                points.push((v * 1e3, k as f64 / n));
                points.push((v * 1e3, (k + 1) as f64 / n));
            }
            if let Some(last) = latencies.last() {
                points.push((last * 1e3, 1.0));
            }
            draw_series_line(&mut chart, s, i, points)?;
        }
        if let Some(d) = deadline_s {
            draw_deadline(&mut chart, s, d * 1e3, 1.0)?;
        }
        Ok(())
    }))
}

/// A number with at most three significant digits and no trailing zeros (`5`, `2.5`, `0.125`).
pub(crate) fn short_number(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return format!("{v}");
    }
    let decimals = (2 - v.abs().log10().floor() as i32).clamp(0, 9) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Width and height of a PNG from its IHDR chunk.
    pub(crate) fn png_size(png: &[u8]) -> (u32, u32) {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        let word = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
        (word(16), word(20))
    }

    /// The texts of an SVG figure that reach outside its canvas by more than half an SVG pixel, as
    /// `"text" at its box`: the SVG laid out by `usvg` with the embedded font, so each text's
    /// bounding box is where the glyphs land (rotated axis labels included).
    pub(crate) fn texts_outside_canvas(svg: &str) -> Vec<String> {
        fn walk(group: &usvg::Group, (w, h): (f32, f32), outside: &mut Vec<String>) {
            for node in group.children() {
                match node {
                    usvg::Node::Group(inner) => walk(inner, (w, h), outside),
                    usvg::Node::Text(text) => {
                        let b = text.abs_bounding_box();
                        if b.left() < -0.5 || b.top() < -0.5 || b.right() > w + 0.5 || b.bottom() > h + 0.5 {
                            let content: String = text.chunks().iter().map(|c| c.text()).collect();
                            outside.push(format!("{content:?} at {b:?} on a canvas of {w} × {h}"));
                        }
                    }
                    _ => {}
                }
            }
        }
        let options = usvg::Options {
            font_family: EMBEDDED_FAMILY.to_string(),
            fontdb: font_database(),
            ..usvg::Options::default()
        };
        let tree = usvg::Tree::from_str(svg, &options).unwrap();
        let mut outside = Vec::new();
        walk(tree.root(), (tree.size().width(), tree.size().height()), &mut outside);
        outside
    }

    /// Names longer than a one-column figure is wide, with and without break points.
    pub(crate) const LONG_NAMES: [&str; 3] = [
        "greedy_slack_with_a_long_suffix_that_names_the_experiment_its_variant_the_date_and_who_ran_it_first",
        "thr-64-1e-3@thr=0.63",
        "averyveryverylongpolicynamewithoutanyplacetobreakitanywhereatallreallynoneatallnotevenonceinthename",
    ];

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn panel() -> TimelinePanel {
        TimelinePanel {
            label: "p".into(),
            bin_start_s: vec![0.0, 1.0, 2.0],
            background_cores: vec![0.0, 1.0, 0.5],
            choice: vec![Some(26.0), None, Some(12.5)],
            misses: vec![0, 3, 0],
            device_busy: Vec::new(),
        }
    }

    fn axis() -> ChoiceAxis {
        ChoiceAxis { legend: "ThrRNN (model, thr) chosen".into(), label: "chosen kFLOP/step".into(), max: 26.0 }
    }

    #[test]
    fn figures_render_with_their_labels() {
        let runs = vec![("a".to_string(), vec![0.001, 0.002, 0.004]), ("b".to_string(), vec![0.003])];
        let svg = latency_cdf(&runs, Some(0.005), "s", COLUMN_WIDTH).unwrap();
        assert!(svg.contains("<text") && svg.contains("latency, release to end (ms)"));
        assert!(svg.contains("deadline (5 ms)"), "the deadline line has a legend entry with its value");
        let svg = timeline(&[panel(), panel()], "s", 2, &axis(), 3.0, COLUMN_WIDTH).unwrap();
        assert!(svg.contains("simulation time (s)") && svg.contains("chosen kFLOP/step"));
        assert!(svg.contains("cores of 2, left axis"), "the load axis is in cores, not a share of one core");
        assert!(svg.contains("ThrRNN (model, thr) chosen (right axis)"));
        assert!(svg.contains("bin where stream `s` missed deadlines"));
        assert!(!svg.contains("busy cores on"));
        // Several devices: a legend entry per device.
        let devices = vec![("cpu".to_string(), vec![1.0, 2.0, 0.5]), ("gpu".to_string(), vec![0.0, 1.0, 1.0])];
        let svg =
            timeline(&[TimelinePanel { device_busy: devices, ..panel() }], "s", 3, &axis(), 3.0, WIDE_WIDTH).unwrap();
        assert!(svg.contains("busy cores on cpu") && svg.contains("busy cores on gpu"));
    }

    /// Issue 15: PDF with the font embedded, PNGs of 1050 and 2100 px at 300 dpi, and the same bytes
    /// every time.
    #[test]
    fn paper_files_are_pdf_with_the_font_and_pngs_of_both_column_widths() {
        let runs = vec![("static".to_string(), vec![0.001, 0.002, 0.004])];
        let files = paper_files("cdf", |width| latency_cdf(&runs, Some(0.005), "s", width)).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["cdf.svg", "cdf.pdf", "cdf.png", "cdf-wide.svg", "cdf-wide.pdf", "cdf-wide.png"]);
        let file = |name: &str| &files.iter().find(|(n, _)| n == name).unwrap().1;
        for pdf in [file("cdf.pdf"), file("cdf-wide.pdf")] {
            assert!(pdf.starts_with(b"%PDF-"));
            assert!(contains(pdf, b"/FontFile2"), "a TrueType font program is embedded");
            assert!(contains(pdf, b"DejaVuSans"), "the embedded font is DejaVu Sans");
            assert!(!contains(pdf, b"/CreationDate") && !contains(pdf, b"/ModDate"), "no date in the PDF");
        }
        // 3.5 in = 252 pt and 7 in = 504 pt wide pages.
        let page_width = |pdf: &[u8]| -> f64 {
            let text = String::from_utf8_lossy(pdf);
            let at = text.find("/MediaBox [0 0 ").expect("a media box") + "/MediaBox [0 0 ".len();
            text[at..].split(' ').next().unwrap().parse().unwrap()
        };
        assert!((page_width(file("cdf.pdf")) - 252.0).abs() < 0.01, "one column is 3.5 in wide");
        assert!((page_width(file("cdf-wide.pdf")) - 504.0).abs() < 0.01, "two columns are 7 in wide");
        assert_eq!(png_size(file("cdf.png")).0, 1050);
        assert_eq!(png_size(file("cdf-wide.png")).0, 2100);
        // pHYs: 11 811 pixels per metre (300 dpi) on both axes.
        let mut phys = b"pHYs".to_vec();
        phys.extend(11_811u32.to_be_bytes());
        phys.extend(11_811u32.to_be_bytes());
        phys.push(1);
        assert!(contains(file("cdf.png"), &phys), "the PNG records 300 dpi");
        let again = paper_files("cdf", |width| latency_cdf(&runs, Some(0.005), "s", width)).unwrap();
        assert_eq!(files, again, "byte-identical from run to run");
    }

    /// The figures need no system font: the database holds the two embedded faces only.
    #[test]
    fn the_font_database_holds_only_the_embedded_dejavu_faces() {
        let database = font_database();
        assert_eq!(database.len(), 2);
        for face in database.faces() {
            assert!(matches!(face.source, usvg::fontdb::Source::Binary(_)), "loaded from memory, not a file");
            assert!(face.families.iter().any(|(name, _)| name == EMBEDDED_FAMILY));
        }
        let query = usvg::fontdb::Query { families: &[usvg::fontdb::Family::SansSerif], ..Default::default() };
        assert!(database.query(&query).is_some(), "sans-serif resolves to DejaVu Sans");
    }

    #[test]
    fn twelve_series_keep_distinct_colours_and_the_last_four_are_dashed() {
        for i in 0..PALETTE.len() {
            for j in 0..i {
                assert_ne!(series_colour(i), series_colour(j), "{i} and {j}");
            }
        }
        assert!((0..SOLID_SERIES).all(|i| series_dash(i).is_none()));
        let dashes: Vec<_> = (SOLID_SERIES..PALETTE.len()).map(|i| series_dash(i).unwrap()).collect();
        for (k, dash) in dashes.iter().enumerate() {
            assert!(!dashes[..k].contains(dash), "a pattern each");
        }
    }

    /// Issue 15: long policy and setting names wrap in the legend (and captions are cut with "…")
    /// instead of running off a one-column figure.
    #[test]
    fn long_names_stay_inside_one_column_figures() {
        // The names are wider than a one-column figure, so they must wrap to fit.
        assert!(text_width(LONG_NAMES[0], LEGEND_FONT) > f64::from(COLUMN_WIDTH));
        assert!(text_width(LONG_NAMES[2], LEGEND_FONT) > f64::from(COLUMN_WIDTH));
        let runs: Vec<(String, Vec<f64>)> =
            LONG_NAMES.iter().map(|name| (name.to_string(), vec![0.001, 0.002, 0.004])).collect();
        let stream = "a_stream_with_a_rather_long_name_too";
        for width in [COLUMN_WIDTH, WIDE_WIDTH] {
            let svg = latency_cdf(&runs, Some(0.005), stream, width).unwrap();
            assert_eq!(texts_outside_canvas(&svg), Vec::<String>::new(), "latency CDF at {width}");
            // Every character of every name is still in the legend.
            let legend: String =
                svg.split("<text").filter_map(|t| t.split('>').nth(1)).filter_map(|t| t.split('<').next()).collect();
            for name in LONG_NAMES {
                let squeezed: String = legend.chars().filter(|c| !c.is_whitespace()).collect();
                assert!(squeezed.contains(&name.replace(' ', "")), "{name} in the legend at {width}");
            }
            let panels: Vec<TimelinePanel> = LONG_NAMES
                .iter()
                .map(|name| TimelinePanel { label: format!("{name}: mostly {name} (100 % of steps)"), ..panel() })
                .collect();
            let long_axis =
                ChoiceAxis { legend: format!("ThrRNN ({}) chosen: its kFLOP/step", LONG_NAMES[0]), ..axis() };
            let svg = timeline(&panels, stream, 2, &long_axis, 3.0, width).unwrap();
            assert_eq!(texts_outside_canvas(&svg), Vec::<String>::new(), "timeline at {width}");
        }
    }

    #[test]
    fn wrapped_lines_fit_and_keep_every_character() {
        for name in LONG_NAMES {
            let lines = wrap_text(name, LEGEND_FONT, 120.0);
            assert!(lines.iter().all(|l| text_width(l, LEGEND_FONT) <= 120.0), "{lines:?}");
            assert_eq!(lines.concat(), name, "only breaks, no characters lost");
        }
        assert_eq!(wrap_text("thr-64-1e-3@thr=0.63", LEGEND_FONT, 1000.0), ["thr-64-1e-3@thr=0.63"]);
        // At spaces when that is enough: a pair's caption breaks around its arrow.
        let pair = "thr-64-1e-3@thr=1 ↔ thr-64-3e-3@thr=0.95";
        let room =
            text_width("thr-64-1e-3@thr=1 ↔", LEGEND_FONT).max(text_width("thr-64-3e-3@thr=0.95", LEGEND_FONT)) + 1.0;
        assert_eq!(wrap_text(pair, LEGEND_FONT, room), ["thr-64-1e-3@thr=1 ↔", "thr-64-3e-3@thr=0.95"]);
        // Breaks fall after the break characters when a piece fits.
        let lines = wrap_text("thr-64-1e-3@thr=0.63", LEGEND_FONT, text_width("thr-64-1e-3@", LEGEND_FONT));
        assert_eq!(lines, ["thr-64-1e-3@", "thr=0.63"]);
        let caption = fit_caption(LONG_NAMES[0], 100.0);
        assert!(caption.ends_with('…') && text_width(&caption, PANEL_FONT) <= 100.0, "{caption}");
        assert_eq!(fit_caption("short", 100.0), "short");
        // A legend with a long entry: the entries after it start on the row below its last line.
        let entries: Vec<LegendEntry> = ["a", LONG_NAMES[0], "b"]
            .iter()
            .map(|l| LegendEntry { label: l.to_string(), swatch: Swatch::Block(BLACK) })
            .collect();
        let layout = legend_layout(&entries, COLUMN_WIDTH);
        let long_rows = layout.lines[1].len();
        assert!(long_rows >= 2);
        assert_eq!(layout.positions[0].1, 0);
        assert_eq!(layout.positions[1].1, 1);
        assert_eq!(layout.positions[2].1, 1 + long_rows);
        assert_eq!(layout.rows, 2 + long_rows);
    }

    #[test]
    fn short_numbers_keep_three_significant_digits() {
        assert_eq!(short_number(5.0), "5");
        assert_eq!(short_number(2.5), "2.5");
        assert_eq!(short_number(0.125), "0.125");
        assert_eq!(short_number(33.333), "33.3");
    }
}
