//! A frame as an image people look at: decoded from whatever transfer syntax the object was
//! received in, rescaled (modality LUT), windowed (the window asked for, else the object's
//! first, else its full range), MONOCHROME1 inverted, scaled down to fit a viewport, and
//! encoded as PNG or JPEG.

use crate::{Error, Instance, guarded};
use dicom_pixeldata::{
    ConvertOptions, PhotometricInterpretation, PixelDecoder, VoiLutOption, WindowLevel,
};

/// The JPEG-LS transfer syntaxes (lossless, near-lossless).
const JPEG_LS: [&str; 2] = ["1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"];

/// A VOI window: centre and width, in the rescaled (modality) values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub center: f64,
    pub width: f64,
}

/// The encoding of a rendered image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    /// Quality 1–100.
    Jpeg {
        quality: u8,
    },
}

/// What to render.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Render {
    /// Counting from 1, as DICOMweb does.
    pub frame: u32,
    pub window: Option<Window>,
    /// The largest (columns, rows) of the result; the image keeps its aspect ratio and is
    /// never enlarged.
    pub viewport: Option<(u32, u32)>,
    pub format: Format,
}

impl Default for Render {
    fn default() -> Render {
        Render {
            frame: 1,
            window: None,
            viewport: None,
            format: Format::Png,
        }
    }
}

/// Renders frame `r.frame` of `instance`.
pub fn render(instance: &Instance, r: &Render) -> Result<Vec<u8>, Error> {
    if let Some(w) = r.window
        && !(w.width > 0.0 && w.width.is_finite() && w.center.is_finite())
    {
        return Err(Error::Pixels(
            "a window's width is a positive number and its centre a number".into(),
        ));
    }
    guarded(
        Error::Pixels("the frame could not be decoded".into()),
        || {
            let frames = instance.frames();
            if r.frame == 0 || r.frame > frames {
                return Err(Error::NoFrame {
                    asked: r.frame,
                    frames,
                });
            }
            let decoded = instance
                .object()
                .decode_pixel_data_frame(r.frame - 1)
                .map_err(|e| {
                    let syntax = instance
                        .object()
                        .meta()
                        .transfer_syntax()
                        .trim_end_matches('\0');
                    Error::Pixels(codec_message(&e.to_string(), syntax))
                })?;
            let voi = match r.window {
                Some(w) => VoiLutOption::Custom(WindowLevel {
                    center: w.center,
                    width: w.width,
                }),
                None => VoiLutOption::First,
            };
            // The LUT spans the full range of the stored sample size (0–255 for 8 bits allocated,
            // 0–65,535 above); 8 bits are taken from it.
            let options = ConvertOptions::new().with_voi_lut(voi);
            let wide: Vec<u16> = decoded
                .to_vec_frame_with_options(0, &options)
                .map_err(|e| Error::Pixels(e.to_string()))?;
            let shift = if decoded.bits_allocated() > 8 { 8 } else { 0 };
            let mut pixels: Vec<u8> = wide.iter().map(|&v| (v >> shift).min(255) as u8).collect();
            if matches!(
                decoded.photometric_interpretation(),
                PhotometricInterpretation::Monochrome1
            ) {
                pixels.iter_mut().for_each(|p| *p = 255 - *p);
            }
            let channels = usize::from(decoded.samples_per_pixel()).clamp(1, 4);
            let (w, h) = (decoded.columns(), decoded.rows());
            if pixels.len() < w as usize * h as usize * channels {
                return Err(Error::Pixels(
                    "the frame holds fewer pixels than its size".into(),
                ));
            }
            let (pixels, w, h) = match r.viewport {
                Some(v) => fit(&pixels, (w, h), channels, v),
                None => (pixels, w, h),
            };
            encode(&pixels, (w, h), channels, r.format)
        },
    )
}

/// Scales `pixels` (`size` columns × rows, `channels` interleaved) down to fit `viewport`,
/// keeping the aspect ratio (each output pixel the mean of the input pixels it covers).
/// What a decoding failure says: the codec's words, or for JPEG-LS in a build without it, how
/// to build one that has it.
pub(crate) fn codec_message(error: &str, syntax: &str) -> String {
    if !cfg!(feature = "jpeg-ls") && JPEG_LS.contains(&syntax) {
        "JPEG-LS is not decoded by this build of Kizuna (build it with the feature jpeg-ls, which needs cmake)".into()
    } else {
        error.to_string()
    }
}

fn fit(
    pixels: &[u8],
    (w, h): (u32, u32),
    channels: usize,
    (vw, vh): (u32, u32),
) -> (Vec<u8>, u32, u32) {
    let scale = (f64::from(vw.max(1)) / f64::from(w.max(1)))
        .min(f64::from(vh.max(1)) / f64::from(h.max(1)));
    if scale >= 1.0 {
        return (pixels.to_vec(), w, h);
    }
    let (ow, oh) = (
        ((f64::from(w) * scale).round() as u32).max(1),
        ((f64::from(h) * scale).round() as u32).max(1),
    );
    let mut out = Vec::with_capacity(ow as usize * oh as usize * channels);
    for oy in 0..oh {
        let (y0, y1) = span(oy, oh, h);
        for ox in 0..ow {
            let (x0, x1) = span(ox, ow, w);
            for c in 0..channels {
                let mut sum = 0u64;
                for y in y0..y1 {
                    let row = y as usize * w as usize;
                    for x in x0..x1 {
                        sum += u64::from(pixels[(row + x as usize) * channels + c]);
                    }
                }
                let n = u64::from((y1 - y0) * (x1 - x0)).max(1);
                out.push(((sum + n / 2) / n) as u8);
            }
        }
    }
    (out, ow, oh)
}

/// The input pixels `[from, to)` that output pixel `i` of `of` covers, out of `len`.
fn span(i: u32, of: u32, len: u32) -> (u32, u32) {
    let from = (u64::from(i) * u64::from(len) / u64::from(of)) as u32;
    let to = ((u64::from(i) + 1) * u64::from(len)).div_ceil(u64::from(of)) as u32;
    (from, to.max(from + 1).min(len))
}

fn encode(
    pixels: &[u8],
    (w, h): (u32, u32),
    channels: usize,
    format: Format,
) -> Result<Vec<u8>, Error> {
    let bad = |e: &dyn std::fmt::Display| Error::Encode(e.to_string());
    let mut out = Vec::new();
    match format {
        Format::Png => {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(match channels {
                1 => png::ColorType::Grayscale,
                2 => png::ColorType::GrayscaleAlpha,
                3 => png::ColorType::Rgb,
                _ => png::ColorType::Rgba,
            });
            enc.set_depth(png::BitDepth::Eight);
            // fdeflate's PNG-tuned mode: a CT slice in a fifth of the time of the default, a
            // few per cent larger (images are viewed at once, not archived: the DICOM is).
            enc.set_compression(png::Compression::Fast);
            let mut writer = enc.write_header().map_err(|e| bad(&e))?;
            writer.write_image_data(pixels).map_err(|e| bad(&e))?;
            writer.finish().map_err(|e| bad(&e))?;
        }
        Format::Jpeg { quality } => {
            let (Ok(w), Ok(h)) = (u16::try_from(w), u16::try_from(h)) else {
                return Err(Error::Encode(
                    "a JPEG is at most 65,535 pixels a side".into(),
                ));
            };
            let color = match channels {
                1 => jpeg_encoder::ColorType::Luma,
                3 => jpeg_encoder::ColorType::Rgb,
                4 => jpeg_encoder::ColorType::Rgba,
                _ => return Err(Error::Encode("no JPEG of grey with alpha".into())),
            };
            jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100))
                .encode(pixels, w, h, color)
                .map_err(|e| bad(&e))?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_keeps_the_aspect_and_averages() {
        // 4×2 grey: left half 0, right half 200.
        let px = [0, 0, 200, 200, 0, 0, 200, 200];
        let (out, w, h) = fit(&px, (4, 2), 1, (2, 2));
        assert_eq!((w, h), (2, 1));
        assert_eq!(out, [0, 200]);
        // Never enlarged.
        assert_eq!(fit(&px, (4, 2), 1, (100, 100)).1, 4);
        // Odd sizes cover every input pixel.
        let (out, w, h) = fit(&[10, 20, 30], (3, 1), 1, (2, 1));
        assert_eq!((w, h, out.len()), (2, 1, 2));
    }
}
