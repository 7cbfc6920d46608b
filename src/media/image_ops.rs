//! Image work, all of it blocking (callers run it on the blocking pool):
//! decode under limits, re-encode, and render transformations.
//!
//! Every image that reaches the disk is decoded and encoded again: that
//! drops EXIF (GPS), XMP, IPTC and comments, and anything smuggled after
//! the image data, while the EXIF orientation is applied to the pixels
//! first and the ICC profile is kept (JPEG, PNG). Decoding is refused
//! before any pixel buffer is allocated when the declared size is over the
//! caps, so a small file that claims to be 100 000 × 100 000 costs nothing.

use std::borrow::Cow;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{
    AnimationDecoder, DynamicImage, Frame, ImageDecoder, ImageEncoder, ImageError, ImageFormat,
    ImageReader, Limits, RgbaImage,
};

use crate::error::ApiError;
use crate::media::jpeg;
use crate::media::model::{fit_within, Format, Quality, Shape, Transform};

/// Widest or tallest image we decode.
pub const MAX_DECODE_EDGE: u32 = 10_000;
/// Most bytes one decoded image (or one GIF's frames together) may take.
pub const MAX_DECODE_BYTES: u64 = 128 * 1024 * 1024;
/// Most frames kept of an animated GIF.
pub const MAX_FRAMES: usize = 200;
/// JPEG quality of re-encoded uploads.
pub const UPLOAD_JPEG_QUALITY: u8 = 85;

/// Why an image could not be processed.
#[derive(Debug)]
pub enum ImageFailure {
    /// Over the dimension or memory caps (a pixel bomb, or just too big): 413.
    TooLarge,
    /// The bytes looked like an image but do not decode: 415.
    Unreadable(String),
    /// Our own I/O failed: 500.
    Io(std::io::Error),
}

impl From<ImageFailure> for ApiError {
    fn from(f: ImageFailure) -> ApiError {
        match f {
            ImageFailure::TooLarge => ApiError::PayloadTooLarge(format!(
                "Image dimensions are too large (at most {MAX_DECODE_EDGE}×{MAX_DECODE_EDGE} pixels)"
            )),
            ImageFailure::Unreadable(_) => {
                ApiError::UnsupportedMediaType("The image file is corrupt or unreadable".into())
            }
            ImageFailure::Io(e) => ApiError::internal(format!("media io: {e}")),
        }
    }
}

impl From<std::io::Error> for ImageFailure {
    fn from(e: std::io::Error) -> Self {
        ImageFailure::Io(e)
    }
}

fn classify(e: ImageError) -> ImageFailure {
    match e {
        ImageError::Limits(_) => ImageFailure::TooLarge,
        other => ImageFailure::Unreadable(other.to_string()),
    }
}

/// The decoder caps.
pub fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_DECODE_EDGE);
    l.max_image_height = Some(MAX_DECODE_EDGE);
    l.max_alloc = Some(MAX_DECODE_BYTES);
    l
}

fn image_format(format: Format) -> ImageFormat {
    match format {
        Format::Png => ImageFormat::Png,
        Format::Gif => ImageFormat::Gif,
        Format::Webp => ImageFormat::WebP,
        _ => ImageFormat::Jpeg,
    }
}

/// An encoded image and its size.
#[derive(Debug)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Decodes the first (or only) frame, upright, with its ICC profile.
fn decode_still(
    input: &Path,
    format: Format,
) -> Result<(DynamicImage, Option<Vec<u8>>), ImageFailure> {
    let mut reader =
        ImageReader::with_format(BufReader::new(File::open(input)?), image_format(format));
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(classify)?;
    let (w, h) = decoder.dimensions();
    if w > MAX_DECODE_EDGE || h > MAX_DECODE_EDGE || decoder.total_bytes() > MAX_DECODE_BYTES {
        return Err(ImageFailure::TooLarge);
    }
    let icc = decoder.icc_profile().ok().flatten();
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(classify)?;
    img.apply_orientation(orientation);
    Ok((img, icc))
}

/// Scales to exactly `w`×`h`: an area average for reductions of 8-bit
/// images (each output pixel is the mean of the source area it covers,
/// fixed-point, separable), a triangle filter otherwise.
fn scale(img: &DynamicImage, w: u32, h: u32) -> DynamicImage {
    if img.width() == w && img.height() == h {
        return img.clone();
    }
    if w <= img.width() && h <= img.height() {
        let (sw, sh) = (img.width() as usize, img.height() as usize);
        let (dw, dh) = (w as usize, h as usize);
        let shrunk = match img {
            DynamicImage::ImageRgb8(b) => {
                image::RgbImage::from_raw(w, h, area_downscale(b.as_raw(), sw, sh, 3, dw, dh))
                    .map(DynamicImage::ImageRgb8)
            }
            DynamicImage::ImageRgba8(b) => {
                image::RgbaImage::from_raw(w, h, area_downscale(b.as_raw(), sw, sh, 4, dw, dh))
                    .map(DynamicImage::ImageRgba8)
            }
            DynamicImage::ImageLuma8(b) => {
                image::GrayImage::from_raw(w, h, area_downscale(b.as_raw(), sw, sh, 1, dw, dh))
                    .map(DynamicImage::ImageLuma8)
            }
            DynamicImage::ImageLumaA8(b) => {
                image::GrayAlphaImage::from_raw(w, h, area_downscale(b.as_raw(), sw, sh, 2, dw, dh))
                    .map(DynamicImage::ImageLumaA8)
            }
            _ => None,
        };
        if let Some(out) = shrunk {
            return out;
        }
    }
    img.resize_exact(w, h, FilterType::Triangle)
}

/// For each of `dst` output positions along an axis of `src` samples: the
/// first source index it covers and `stride` weights from there, in
/// 1/65536ths summing to 65536 (padded with zeros, always in bounds).
struct Taps {
    stride: usize,
    starts: Vec<usize>,
    weights: Vec<u32>,
}

fn area_weights(src: usize, dst: usize) -> Taps {
    let ratio = src as f64 / dst as f64;
    let lists: Vec<(usize, Vec<u32>)> = (0..dst)
        .map(|j| {
            let (start, end) = (j as f64 * ratio, ((j + 1) as f64 * ratio).min(src as f64));
            let first = (start.floor() as usize).min(src - 1);
            let mut ws = Vec::new();
            let mut i = first;
            while (i as f64) < end && i < src {
                let cover = (end.min(i as f64 + 1.0) - start.max(i as f64)).max(0.0);
                ws.push((cover / ratio * 65536.0).round() as u32);
                i += 1;
            }
            if ws.is_empty() {
                ws.push(0);
            }
            let sum: i64 = ws.iter().map(|&w| w as i64).sum();
            if let Some(max) = ws.iter_mut().max() {
                *max = (*max as i64 + 65536 - sum) as u32;
            }
            (first, ws)
        })
        .collect();
    let stride = lists.iter().map(|l| l.1.len()).max().unwrap_or(1).min(src);
    let mut starts = Vec::with_capacity(dst);
    let mut weights = Vec::with_capacity(dst * stride);
    for (first, ws) in lists {
        // Shift windows that would run past the end left, padding in front.
        let start = first.min(src - stride);
        let pad = first - start;
        starts.push(start);
        weights.extend(std::iter::repeat_n(0, pad));
        weights.extend_from_slice(&ws);
        weights.extend(std::iter::repeat_n(0, stride - pad - ws.len()));
    }
    Taps {
        stride,
        starts,
        weights,
    }
}

/// One row (samples × 256) through the horizontal taps, to 8-bit samples.
fn horizontal<const CH: usize>(src: &[u16], out: &mut [u8], taps: &Taps) {
    let stride = taps.stride;
    for ((&start, ws), px_out) in taps
        .starts
        .iter()
        .zip(taps.weights.chunks_exact(stride))
        .zip(out.chunks_exact_mut(CH))
    {
        let window = &src[start * CH..(start + stride) * CH];
        let mut acc = [0u32; CH];
        for (px, &w) in window.chunks_exact(CH).zip(ws) {
            for c in 0..CH {
                acc[c] += px[c] as u32 * w;
            }
        }
        for c in 0..CH {
            px_out[c] = ((acc[c] + (1 << 23)) >> 24).min(255) as u8;
        }
    }
}

/// Row by row: the vertical taps of an output row are summed over whole
/// source rows (which vectorises) into one row buffer that stays in cache,
/// then that row goes through the horizontal taps.
fn area_downscale_ch<const CH: usize>(
    src: &[u8],
    sw: usize,
    sh: usize,
    dw: usize,
    dh: usize,
) -> Vec<u8> {
    let xs = area_weights(sw, dw);
    let ys = area_weights(sh, dh);
    let row = sw * CH;
    let mut acc = vec![0u32; row];
    let mut mid = vec![0u16; row];
    let mut out = vec![0u8; dw * CH * dh];
    for (y, o) in out.chunks_exact_mut(dw * CH).enumerate() {
        acc.iter_mut().for_each(|a| *a = 0);
        let first = ys.starts[y];
        let ws = &ys.weights[y * ys.stride..(y + 1) * ys.stride];
        for (k, &w) in ws.iter().enumerate() {
            if w == 0 {
                continue;
            }
            let s = &src[(first + k) * row..(first + k + 1) * row];
            for (a, &v) in acc.iter_mut().zip(s) {
                *a += v as u32 * w;
            }
        }
        for (m, &a) in mid.iter_mut().zip(&acc) {
            *m = ((a + 128) >> 8) as u16;
        }
        horizontal::<CH>(&mid, o, &xs);
    }
    out
}

/// Area-average reduction of interleaved 8-bit samples, `ch` (1–4) per
/// pixel, from `sw`×`sh` to `dw`×`dh` (each no larger than the source).
fn area_downscale(src: &[u8], sw: usize, sh: usize, ch: usize, dw: usize, dh: usize) -> Vec<u8> {
    match ch {
        1 => area_downscale_ch::<1>(src, sw, sh, dw, dh),
        2 => area_downscale_ch::<2>(src, sw, sh, dw, dh),
        3 => area_downscale_ch::<3>(src, sw, sh, dw, dh),
        _ => area_downscale_ch::<4>(src, sw, sh, dw, dh),
    }
}

/// Scales and centre-crops to exactly `w`×`h`.
fn fill(img: &DynamicImage, w: u32, h: u32) -> DynamicImage {
    let (iw, ih) = (img.width() as f64, img.height() as f64);
    let ratio = (w as f64 / iw).max(h as f64 / ih);
    let sw = ((iw * ratio).round() as u32).max(w);
    let sh = ((ih * ratio).round() as u32).max(h);
    let scaled = scale(img, sw, sh);
    scaled.crop_imm((sw - w) / 2, (sh - h) / 2, w, h)
}

/// Paints transparent pixels onto white (JPEG has no alpha).
fn flatten(img: &DynamicImage) -> DynamicImage {
    let mut rgba = img.to_rgba8();
    for p in rgba.pixels_mut() {
        let a = p[3] as u32;
        for c in 0..3 {
            p[c] = ((p[c] as u32 * a + 255 * (255 - a)) / 255) as u8;
        }
        p[3] = 255;
    }
    DynamicImage::ImageRgba8(rgba).into_rgb8().into()
}

fn encode(
    img: &DynamicImage,
    format: Format,
    quality: u8,
    icc: Option<Vec<u8>>,
) -> Result<Vec<u8>, ImageFailure> {
    let mut out = Vec::new();
    let failed = |e: ImageError| ImageFailure::Unreadable(e.to_string());
    match format {
        Format::Png => {
            let img: Cow<DynamicImage> = match img {
                DynamicImage::ImageRgb32F(_) | DynamicImage::ImageRgba32F(_) => {
                    Cow::Owned(DynamicImage::ImageRgba16(img.to_rgba16()))
                }
                other => Cow::Borrowed(other),
            };
            let mut enc = PngEncoder::new(&mut out);
            if let Some(icc) = icc {
                let _ = enc.set_icc_profile(icc);
            }
            img.write_with_encoder(enc).map_err(failed)?;
        }
        Format::Webp => {
            let img: DynamicImage = if img.color().has_alpha() {
                img.to_rgba8().into()
            } else {
                img.to_rgb8().into()
            };
            img.write_with_encoder(WebPEncoder::new_lossless(&mut out))
                .map_err(failed)?;
        }
        Format::Gif => {
            let mut enc = GifEncoder::new_with_speed(&mut out, 10);
            enc.encode_frame(Frame::new(img.to_rgba8()))
                .map_err(failed)?;
        }
        _ => {
            let (w, h) = (img.width() as usize, img.height() as usize);
            let icc = icc.as_deref();
            out = match img {
                DynamicImage::ImageLuma8(g) => jpeg::encode_gray(g.as_raw(), w, h, quality, icc),
                DynamicImage::ImageRgb8(rgb) => jpeg::encode_rgb(rgb.as_raw(), w, h, quality, icc),
                other if other.color().has_alpha() => {
                    jpeg::encode_rgb(flatten(other).as_bytes(), w, h, quality, icc)
                }
                other => jpeg::encode_rgb(other.to_rgb8().as_raw(), w, h, quality, icc),
            };
        }
    }
    Ok(out)
}

/// Re-encodes an uploaded image in its own format, shaped as the route
/// asks: scaled down to fit (`Limit`, keeping a GIF's animation) or
/// cropped to a square (`Fill`, first frame only).
pub fn process_upload(input: &Path, format: Format, shape: Shape) -> Result<Encoded, ImageFailure> {
    if format == Format::Gif {
        if let Shape::Limit(edge) = shape {
            return process_animation(input, edge);
        }
    }
    let (img, icc) = decode_still(input, format)?;
    let img = match shape {
        Shape::Limit(edge) => {
            let (w, h) = fit_within(img.width(), img.height(), edge);
            scale(&img, w, h)
        }
        Shape::Fill(edge) => fill(&img, edge, edge),
    };
    let bytes = encode(&img, format, UPLOAD_JPEG_QUALITY, icc)?;
    Ok(Encoded {
        bytes,
        width: img.width(),
        height: img.height(),
    })
}

/// A GIF, every frame re-encoded (and scaled to fit `edge`), under the caps.
fn process_animation(input: &Path, edge: u32) -> Result<Encoded, ImageFailure> {
    let mut decoder = GifDecoder::new(BufReader::new(File::open(input)?)).map_err(classify)?;
    decoder.set_limits(limits()).map_err(classify)?;
    let (w, h) = decoder.dimensions();
    let canvas = w as u64 * h as u64 * 4;
    if w > MAX_DECODE_EDGE || h > MAX_DECODE_EDGE || canvas > MAX_DECODE_BYTES {
        return Err(ImageFailure::TooLarge);
    }
    let (tw, th) = fit_within(w, h, edge);
    let mut frames = Vec::new();
    let mut kept = 0u64;
    for frame in decoder.into_frames() {
        let frame = frame.map_err(classify)?;
        if frames.len() == MAX_FRAMES {
            break;
        }
        let delay = frame.delay();
        let buffer: RgbaImage = if (tw, th) == (w, h) {
            frame.into_buffer()
        } else {
            scale(&DynamicImage::ImageRgba8(frame.into_buffer()), tw, th).into_rgba8()
        };
        kept += buffer.as_raw().len() as u64;
        if kept > MAX_DECODE_BYTES {
            return Err(ImageFailure::TooLarge);
        }
        frames.push(Frame::from_parts(buffer, 0, 0, delay));
    }
    if frames.is_empty() {
        return Err(ImageFailure::Unreadable("no frames".into()));
    }
    let mut out = Vec::new();
    {
        let failed = |e: ImageError| ImageFailure::Unreadable(e.to_string());
        let mut enc = GifEncoder::new_with_speed(&mut out, 30);
        if frames.len() > 1 {
            enc.set_repeat(Repeat::Infinite).map_err(failed)?;
        }
        enc.encode_frames(frames).map_err(failed)?;
    }
    Ok(Encoded {
        bytes: out,
        width: tw,
        height: th,
    })
}

/// Renders a signed transformation of a stored image (first frame of a GIF).
pub fn render(input: &Path, format: Format, t: &Transform) -> Result<Encoded, ImageFailure> {
    let (img, icc) = decode_still(input, format)?;
    let (w, h, crop) = t.target(img.width(), img.height());
    let img = if crop {
        fill(&img, w, h)
    } else {
        scale(&img, w, h)
    };
    let quality = t.quality.unwrap_or(Quality::Auto).jpeg();
    let bytes = encode(&img, t.format, quality, icc)?;
    Ok(Encoded {
        bytes,
        width: img.width(),
        height: img.height(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::model::Crop;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbaImage::from_fn(w, h, |x, y| image::Rgba([x as u8, y as u8, 90, 200]));
        let mut out = Vec::new();
        DynamicImage::ImageRgba8(img)
            .write_with_encoder(PngEncoder::new(&mut out))
            .unwrap();
        out
    }

    #[test]
    fn area_downscale_averages_covered_pixels() {
        // 4×1 grey → 2×1: pairs averaged; 3×1 → 2×1: thirds shared.
        assert_eq!(
            area_downscale(&[0, 100, 200, 250], 4, 1, 1, 2, 1),
            vec![50, 225]
        );
        assert_eq!(area_downscale(&[0, 90, 180], 3, 1, 1, 2, 1), vec![30, 150]);
        let flat = vec![77u8; 300 * 200 * 3];
        assert!(area_downscale(&flat, 300, 200, 3, 7, 5)
            .iter()
            .all(|&v| v == 77));
        let white = vec![255u8; 50 * 50 * 4];
        assert!(area_downscale(&white, 50, 50, 4, 13, 9)
            .iter()
            .all(|&v| v == 255));
        for (src, dst) in [
            (10, 3),
            (1200, 7),
            (5, 5),
            (1, 1),
            (2400, 1200),
            (1601, 800),
        ] {
            let taps = area_weights(src, dst);
            for (j, ws) in taps.weights.chunks_exact(taps.stride).enumerate() {
                assert_eq!(ws.iter().sum::<u32>(), 65536);
                assert!(taps.starts[j] + taps.stride <= src);
            }
        }
        // Matches a plain per-pixel mean on an exact 2× reduction.
        let src: Vec<u8> = (0..16 * 8 * 3).map(|i| (i * 37 % 256) as u8).collect();
        let out = area_downscale(&src, 16, 8, 3, 8, 4);
        for y in 0..4 {
            for x in 0..8 {
                for c in 0..3 {
                    let at = |xx: usize, yy: usize| src[(yy * 16 + xx) * 3 + c] as u32;
                    let mean = (at(2 * x, 2 * y)
                        + at(2 * x + 1, 2 * y)
                        + at(2 * x, 2 * y + 1)
                        + at(2 * x + 1, 2 * y + 1)
                        + 2)
                        / 4;
                    let got = out[(y * 8 + x) * 3 + c] as u32;
                    assert!(got.abs_diff(mean) <= 1, "{got} vs {mean}");
                }
            }
        }
    }

    #[test]
    fn uploads_are_limited_and_squares_are_filled() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a.png", &png(1500, 600));
        let e = process_upload(&p, Format::Png, Shape::Limit(1200)).unwrap();
        assert_eq!((e.width, e.height), (1200, 480));
        assert_eq!(Format::sniff(&e.bytes), Some(Format::Png));
        let e = process_upload(&p, Format::Png, Shape::Fill(500)).unwrap();
        assert_eq!((e.width, e.height), (500, 500));
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_huge_declared_size_is_refused_before_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let mut bomb = png(1, 1);
        // IHDR: length at 8, type at 12, width and height at 16..24, CRC at 29..33.
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        let p = write(dir.path(), "bomb.png", &bomb);
        let r = process_upload(&p, Format::Png, Shape::Limit(1200));
        assert!(matches!(r, Err(ImageFailure::TooLarge)), "{r:?}");
        // Under the edge cap but over the memory cap: 9000 × 9000 RGBA.
        bomb[16..20].copy_from_slice(&9_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&9_000u32.to_be_bytes());
        let crc = crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        let p = write(dir.path(), "bomb2.png", &bomb);
        let r = process_upload(&p, Format::Png, Shape::Limit(1200));
        assert!(matches!(r, Err(ImageFailure::TooLarge)), "{r:?}");
    }

    #[test]
    fn garbage_with_a_good_header_is_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = png(10, 10);
        bytes.truncate(40);
        let p = write(dir.path(), "cut.png", &bytes);
        assert!(matches!(
            process_upload(&p, Format::Png, Shape::Limit(1200)),
            Err(ImageFailure::Unreadable(_))
        ));
    }

    #[test]
    fn renders_transformations_to_other_formats() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a.png", &png(400, 200));
        let t = Transform {
            width: Some(100),
            height: Some(100),
            crop: Some(Crop::Fill),
            quality: Some(Quality::Value(70)),
            format: Format::Jpeg,
        };
        let e = render(&p, Format::Png, &t).unwrap();
        assert_eq!((e.width, e.height), (100, 100));
        assert_eq!(Format::sniff(&e.bytes), Some(Format::Jpeg));
        let t = Transform {
            crop: Some(Crop::Fit),
            format: Format::Webp,
            ..t
        };
        let e = render(&p, Format::Png, &t).unwrap();
        assert_eq!((e.width, e.height), (100, 50));
        assert_eq!(Format::sniff(&e.bytes), Some(Format::Webp));
    }
}
