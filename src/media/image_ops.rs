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

use fast_image_resize as fr;
use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::metadata::Orientation;
use image::{
    AnimationDecoder, DynamicImage, Frame, ImageDecoder, ImageEncoder, ImageError, ImageFormat,
    ImageReader, Limits, RgbaImage,
};

use crate::error::ApiError;
use crate::media::model::{fit_within, Format, Quality, Shape, Transform};

thread_local! {
    /// A resizer per image thread keeps its scratch buffers between images.
    static RESIZER: std::cell::RefCell<fr::Resizer> = std::cell::RefCell::new(fr::Resizer::new());
}

thread_local! {
    /// The file bytes of the image thread's last JPEG upload (at most 5 MB).
    static JPEG_INPUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Decoded JPEG pixels of the image thread's last upload.
    static JPEG_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Largest scratch buffer an image thread keeps between images: a
/// 12-megapixel RGB photo.
const KEEP_SCRATCH: usize = 36 << 20;

/// Widest or tallest image we decode.
pub const MAX_DECODE_EDGE: u32 = 10_000;
/// Most bytes one decoded image (or one GIF's frames together) may take.
pub const MAX_DECODE_BYTES: u64 = 128 * 1024 * 1024;
/// Most frames kept of an animated GIF.
pub const MAX_FRAMES: usize = 200;
/// Most pixels one upload may make us decode, every frame counted
/// (width × height × frames): 128 MiB of RGBA. Checked from the header,
/// before any decoding, so a tiny GIF declaring a huge canvas and many
/// frames costs a scan of its block structure and nothing more.
pub const MAX_DECODE_PIXELS: u64 = MAX_DECODE_BYTES / 4;
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

/// Whether decoding `frames` frames of a `w` × `h` canvas stays within
/// [`MAX_DECODE_PIXELS`].
pub fn within_pixel_budget(w: u32, h: u32, frames: u64) -> bool {
    (w as u64)
        .saturating_mul(h as u64)
        .saturating_mul(frames.max(1))
        <= MAX_DECODE_PIXELS
}

/// The frames (image descriptors) of a GIF, counted by walking its block
/// structure without decoding any pixel data; `None` when the structure is
/// cut short or not a GIF.
pub fn gif_frame_count(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < 13 || !bytes.starts_with(b"GIF8") {
        return None;
    }
    let table = |flags: u8| {
        if flags & 0x80 != 0 {
            3usize << ((flags & 0x07) + 1)
        } else {
            0
        }
    };
    // Sub-blocks: a length byte and that many bytes, until a zero length.
    let skip_blocks = |mut at: usize| -> Option<usize> {
        loop {
            let len = *bytes.get(at)? as usize;
            at += 1 + len;
            if len == 0 {
                return Some(at);
            }
        }
    };
    let mut at = 13 + table(bytes[10]);
    let mut frames = 0u64;
    loop {
        match *bytes.get(at)? {
            0x3B => return Some(frames),
            0x21 => at = skip_blocks(at + 2)?,
            0x2C => {
                let flags = *bytes.get(at + 9)?;
                frames += 1;
                // descriptor (10), local table, LZW minimum code size (1), data.
                at = skip_blocks(at + 10 + table(flags) + 1)?;
            }
            _ => return if frames > 0 { Some(frames) } else { None },
        }
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
    if w > MAX_DECODE_EDGE
        || h > MAX_DECODE_EDGE
        || decoder.total_bytes() > MAX_DECODE_BYTES
        || !within_pixel_budget(w, h, 1)
    {
        return Err(ImageFailure::TooLarge);
    }
    let icc = decoder.icc_profile().ok().flatten();
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(classify)?;
    img.apply_orientation(orientation);
    Ok((img, icc))
}

/// Scales to exactly `w`×`h` (SIMD, fast_image_resize): an area average
/// (box filter) for reductions, bilinear for enlargements, alpha
/// premultiplied so transparent pixels do not bleed dark fringes. `centre`
/// crops the source to the target's aspect first (fill), keeping its middle.
fn resize(img: &DynamicImage, w: u32, h: u32, centre: bool) -> DynamicImage {
    if img.width() == w && img.height() == h {
        return img.clone();
    }
    // 16-bit and float images go through 8 bits per channel: every format
    // we write stores 8.
    let img: Cow<DynamicImage> = match img {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => Cow::Borrowed(img),
        other if other.color().has_alpha() => Cow::Owned(other.to_rgba8().into()),
        other => Cow::Owned(other.to_rgb8().into()),
    };
    let out = match img.as_ref() {
        DynamicImage::ImageLuma8(_) => DynamicImage::new_luma8(w, h),
        DynamicImage::ImageLumaA8(_) => DynamicImage::new_luma_a8(w, h),
        DynamicImage::ImageRgba8(_) => DynamicImage::new_rgba8(w, h),
        _ => DynamicImage::new_rgb8(w, h),
    };
    resize_into(img.as_ref(), out, centre)
}

/// [`resize`] from any 8-bit source into `out` (which sets the size).
fn resize_into(src: &impl fr::IntoImageView, mut out: DynamicImage, centre: bool) -> DynamicImage {
    let filter = if out.width() <= src.width() && out.height() <= src.height() {
        fr::FilterType::Box
    } else {
        fr::FilterType::Bilinear
    };
    let mut options = fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(filter));
    if centre {
        options = options.fit_into_destination(Some((0.5, 0.5)));
    }
    RESIZER
        .with_borrow_mut(|r| r.resize(src, &mut out, &options))
        .expect("8-bit source and destination of the same pixel type");
    out
}

/// Decodes a JPEG upload and shapes it in one pass: the pixels go into
/// this thread's scratch buffer (so a stream of 12-megapixel photos does
/// not map and fault in fresh pages for each), are scaled from there, and
/// only the small result is turned upright.
fn decode_jpeg_shaped(
    input: &Path,
    shape: Shape,
) -> Result<(DynamicImage, Option<Vec<u8>>), ImageFailure> {
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    let unreadable = |e: zune_jpeg::errors::DecodeErrors| ImageFailure::Unreadable(e.to_string());
    // Our own caps decide (413), not the decoder's (which would read as corrupt).
    let options = DecoderOptions::default()
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX);
    // Read whole: the decoder is a third slower pulling through a BufReader.
    let bytes = JPEG_INPUT.with_borrow_mut(|buf| -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let mut taken = std::mem::take(buf);
        taken.clear();
        File::open(input)?.read_to_end(&mut taken)?;
        Ok(taken)
    })?;
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(
        zune_core::bytestream::ZCursor::new(&bytes),
        options,
    );
    decoder.decode_headers().map_err(unreadable)?;
    let (w, h) = decoder
        .dimensions()
        .ok_or_else(|| ImageFailure::Unreadable("no frame header".into()))?;
    if w > MAX_DECODE_EDGE as usize || h > MAX_DECODE_EDGE as usize {
        return Err(ImageFailure::TooLarge);
    }
    let (w, h) = (w as u32, h as u32);
    if !within_pixel_budget(w, h, 1) {
        return Err(ImageFailure::TooLarge);
    }
    let grey = matches!(decoder.input_colorspace(), Some(ColorSpace::Luma));
    let out_space = if grey {
        ColorSpace::Luma
    } else {
        ColorSpace::RGB
    };
    decoder.set_options(decoder.options().jpeg_set_out_colorspace(out_space));
    let size = decoder
        .output_buffer_size()
        .ok_or_else(|| ImageFailure::Unreadable("no frame header".into()))?;
    if size as u64 > MAX_DECODE_BYTES {
        return Err(ImageFailure::TooLarge);
    }
    let icc = decoder.icc_profile();
    let orientation = decoder
        .exif()
        .and_then(|exif| Orientation::from_exif_chunk(exif))
        .unwrap_or(Orientation::NoTransforms);
    // The target, worked out upright and then turned back to how the
    // pixels are stored.
    let sideways = matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    let upright = if sideways { (h, w) } else { (w, h) };
    let ((tw, th), centre) = match shape {
        Shape::Limit(edge) => (fit_within(upright.0, upright.1, edge), false),
        Shape::Fill(edge) => ((edge, edge), true),
    };
    let (tw, th) = if sideways { (th, tw) } else { (tw, th) };
    let mut img = JPEG_SCRATCH.with_borrow_mut(|buf| {
        buf.clear();
        buf.resize(size, 0);
        let decoded = decoder.decode_into(buf).map_err(unreadable);
        let (pixel, out) = if grey {
            (fr::PixelType::U8, DynamicImage::new_luma8(tw, th))
        } else {
            (fr::PixelType::U8x3, DynamicImage::new_rgb8(tw, th))
        };
        let shaped = decoded.map(|()| {
            let src =
                fr::images::ImageRef::new(w, h, buf, pixel).expect("buffer of the decoded size");
            resize_into(&src, out, centre)
        });
        if buf.capacity() > KEEP_SCRATCH {
            *buf = Vec::new();
        }
        shaped
    })?;
    drop(decoder);
    JPEG_INPUT.with_borrow_mut(|buf| *buf = bytes);
    img.apply_orientation(orientation);
    Ok((img, icc))
}

/// Scales to exactly `w`×`h`.
fn scale(img: &DynamicImage, w: u32, h: u32) -> DynamicImage {
    resize(img, w, h, false)
}

/// Scales and centre-crops to exactly `w`×`h`.
fn fill(img: &DynamicImage, w: u32, h: u32) -> DynamicImage {
    resize(img, w, h, true)
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
            let (w, h) = (img.width() as u16, img.height() as u16);
            let rgb: Cow<DynamicImage> = match img {
                DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => Cow::Borrowed(img),
                other if other.color().has_alpha() => Cow::Owned(flatten(other)),
                other => Cow::Owned(other.to_rgb8().into()),
            };
            let colour = match rgb.as_ref() {
                DynamicImage::ImageLuma8(_) => jpeg_encoder::ColorType::Luma,
                _ => jpeg_encoder::ColorType::Rgb,
            };
            // 4:2:0 chroma, as cameras and image CDNs write: half the
            // blocks of 4:4:4 and files about a third smaller.
            let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
            enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
            if let Some(icc) = icc.as_deref() {
                let _ = enc.add_icc_profile(icc);
            }
            enc.encode(rgb.as_bytes(), w, h, colour)
                .map_err(|e| ImageFailure::Unreadable(e.to_string()))?;
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
    let (img, icc) = if format == Format::Jpeg {
        decode_jpeg_shaped(input, shape)?
    } else {
        let (img, icc) = decode_still(input, format)?;
        let img = match shape {
            Shape::Limit(edge) => {
                let (w, h) = fit_within(img.width(), img.height(), edge);
                scale(&img, w, h)
            }
            Shape::Fill(edge) => fill(&img, edge, edge),
        };
        (img, icc)
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
    let frames = gif_frame_count(&std::fs::read(input)?)
        .ok_or_else(|| ImageFailure::Unreadable("truncated GIF".into()))?;
    if !within_pixel_budget(w, h, frames.min(MAX_FRAMES as u64 + 1)) {
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

    /// A GIF of `frames` 1×1 frames on a `w` × `h` canvas (the upload bomb's shape).
    pub(crate) fn canvas_gif(w: u16, h: u16, frames: usize) -> Vec<u8> {
        let mut g = b"GIF89a".to_vec();
        g.extend_from_slice(&w.to_le_bytes());
        g.extend_from_slice(&h.to_le_bytes());
        g.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF]);
        for _ in 0..frames {
            g.extend_from_slice(&[0x21, 0xF9, 4, 0, 1, 0, 0, 0]);
            g.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0]);
        }
        g.push(0x3B);
        g
    }

    #[test]
    fn gif_frames_are_counted_from_the_block_structure() {
        for (w, h, frames) in [(1, 1, 1), (4000, 4000, 150), (10, 10, 0)] {
            assert_eq!(
                gif_frame_count(&canvas_gif(w, h, frames)),
                Some(frames as u64)
            );
        }
        let mut cut = canvas_gif(10, 10, 3);
        cut.truncate(cut.len() - 4);
        assert_eq!(gif_frame_count(&cut), None);
        assert_eq!(gif_frame_count(b"\x89PNG\r\n\x1a\n0000000"), None);
    }

    #[test]
    fn the_pixel_budget_counts_every_frame() {
        let cases = [
            (4000, 4000, 150, false),
            (4000, 4000, 1, true),
            (1000, 1000, 30, true),
            (1000, 1000, 40, false),
            (u32::MAX, u32::MAX, u64::MAX, false),
        ];
        for (w, h, frames, ok) in cases {
            assert_eq!(within_pixel_budget(w, h, frames), ok, "{w}x{h}x{frames}");
        }
    }

    #[test]
    fn a_gif_bomb_is_refused_before_decoding() {
        let dir = std::env::temp_dir().join(format!("baitech-bomb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = write(&dir, "bomb.gif", &canvas_gif(4000, 4000, 150));
        assert!(matches!(
            process_upload(&p, Format::Gif, Shape::Limit(1600)),
            Err(ImageFailure::TooLarge)
        ));
        let small = write(&dir, "small.gif", &canvas_gif(40, 40, 3));
        let out = process_upload(&small, Format::Gif, Shape::Limit(1600)).unwrap();
        assert_eq!((out.width, out.height), (40, 40));
    }

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

    fn grey(w: u32, h: u32, px: impl Fn(u32, u32) -> u8) -> DynamicImage {
        DynamicImage::ImageLuma8(image::GrayImage::from_fn(w, h, |x, y| {
            image::Luma([px(x, y)])
        }))
    }

    #[test]
    fn reductions_average_the_covered_pixels() {
        // 4×1 → 2×1: pairs averaged.
        let out = scale(&grey(4, 1, |x, _| [0, 100, 200, 250][x as usize]), 2, 1);
        assert_eq!(out.as_bytes(), &[50, 225]);
        let flat = scale(&grey(300, 200, |_, _| 77), 7, 5);
        assert!(flat.as_bytes().iter().all(|&v| v == 77));
        // An exact 2× reduction matches a plain per-pixel mean.
        let px = |x: u32, y: u32| ((x * 37 + y * 91) % 256) as u8;
        let out = scale(&grey(16, 8, px), 8, 4);
        for y in 0..4 {
            for x in 0..8 {
                let mean = (px(2 * x, 2 * y) as u32
                    + px(2 * x + 1, 2 * y) as u32
                    + px(2 * x, 2 * y + 1) as u32
                    + px(2 * x + 1, 2 * y + 1) as u32
                    + 2)
                    / 4;
                let got = out.as_bytes()[(y * 8 + x) as usize] as u32;
                assert!(got.abs_diff(mean) <= 1, "{got} vs {mean}");
            }
        }
    }

    #[test]
    fn fill_keeps_the_middle() {
        // 300×100: left third black, middle white, right third black.
        let img = grey(
            300,
            100,
            |x, _| if (100..200).contains(&x) { 255 } else { 0 },
        );
        let out = fill(&img, 50, 50);
        assert_eq!((out.width(), out.height()), (50, 50));
        assert!(out.as_bytes().iter().all(|&v| v == 255));
    }

    #[test]
    fn jpeg_is_written_with_half_resolution_chroma() {
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, 128])
        }));
        let bytes = encode(&img, Format::Jpeg, 85, None).unwrap();
        // SOF0: length, precision, height, width, 3 components, each with
        // id and sampling; luma 2×2, chroma 1×1.
        let sof = bytes.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
        let comp = &bytes[sof + 10..sof + 19];
        assert_eq!((comp[1], comp[4], comp[7]), (0x22, 0x11, 0x11));
        let back = image::load_from_memory(&bytes).unwrap().to_rgb8();
        assert_eq!(back.dimensions(), (64, 48));
        let diff = |a: u8, b: u8| (a as i32 - b as i32).abs();
        let p = back.get_pixel(30, 20);
        assert!(
            diff(p[0], 120) < 12 && diff(p[1], 100) < 12 && diff(p[2], 128) < 12,
            "{p:?}"
        );
    }

    /// A `w`×`h` JPEG, left half dark and right half light, tagged with
    /// EXIF `orientation`.
    fn jpeg_oriented(w: u16, h: u16, orientation: u16) -> Vec<u8> {
        let px: Vec<u8> = (0..h)
            .flat_map(|_| (0..w).flat_map(|x| [if x < w / 2 { 20u8 } else { 230 }; 3]))
            .collect();
        let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
        enc.add_exif_metadata(&tiff).unwrap();
        enc.encode(&px, w, h, jpeg_encoder::ColorType::Rgb).unwrap();
        out
    }

    #[test]
    fn jpeg_uploads_are_scaled_then_turned_upright() {
        let dir = tempfile::tempdir().unwrap();
        // Stored 1600×800 and tagged "rotate 90° clockwise": upright it is
        // 800×1600 with the dark half on top.
        let p = write(dir.path(), "a.jpg", &jpeg_oriented(1600, 800, 6));
        let e = process_upload(&p, Format::Jpeg, Shape::Limit(1200)).unwrap();
        assert_eq!((e.width, e.height), (600, 1200));
        let img = image::load_from_memory(&e.bytes).unwrap().to_luma8();
        assert_eq!(img.dimensions(), (600, 1200));
        assert!(img.get_pixel(300, 100)[0] < 60 && img.get_pixel(300, 1100)[0] > 190);
        let e = process_upload(&p, Format::Jpeg, Shape::Fill(500)).unwrap();
        assert_eq!((e.width, e.height), (500, 500));
        // No tag, no turn; and an image inside the box keeps its size.
        let p = write(dir.path(), "b.jpg", &jpeg_oriented(640, 480, 1));
        let e = process_upload(&p, Format::Jpeg, Shape::Limit(1200)).unwrap();
        assert_eq!((e.width, e.height), (640, 480));
        let img = image::load_from_memory(&e.bytes).unwrap().to_luma8();
        assert!(img.get_pixel(10, 240)[0] < 60 && img.get_pixel(630, 240)[0] > 190);
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
