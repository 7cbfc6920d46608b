//! A baseline JPEG encoder with 4:2:0 chroma subsampling (what cameras and
//! image CDNs write): a float AAN forward DCT, the standard Annex K
//! quantisation and Huffman tables scaled by quality as libjpeg does, and
//! no metadata beyond JFIF and an optional ICC profile.
//!
//! The `image` crate's encoder keeps full-resolution chroma, which costs
//! twice the blocks and gives files about a third larger; uploads and
//! renders are re-encoded on every request path, so this one is ours.

/// Natural (row-major) index of the i-th coefficient in zigzag order.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Annex K.1 tables, natural order.
const LUMA_Q: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_Q: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// Annex K.3 Huffman tables: code counts per length 1..=16, then symbols.
const DC_LUMA_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_CHROMA_BITS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUMA_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
const AC_LUMA_VALUES: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
    0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];
const AC_CHROMA_BITS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const AC_CHROMA_VALUES: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
    0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

/// AAN scale factors of the float DCT.
const AAN: [f32; 8] = [
    1.0,
    1.387_039_8,
    1.306_563,
    1.175_875_6,
    1.0,
    0.785_694_96,
    0.541_196_1,
    0.275_899_38,
];

/// A quantisation table as written (zigzag) and as used (reciprocal divisors, natural order).
struct Quant {
    zigzag: [u8; 64],
    scale: [f32; 64],
}

fn quant(base: &[u16; 64], quality: u8) -> Quant {
    let q = quality.clamp(1, 100) as u32;
    let factor = if q < 50 { 5000 / q } else { 200 - 2 * q };
    let mut zigzag = [0u8; 64];
    let mut scale = [0f32; 64];
    for (i, &natural) in ZIGZAG.iter().enumerate() {
        let v = ((base[natural] as u32 * factor + 50) / 100).clamp(1, 255);
        zigzag[i] = v as u8;
        let (row, col) = (natural / 8, natural % 8);
        scale[natural] = 1.0 / (v as f32 * AAN[row] * AAN[col] * 8.0);
    }
    Quant { zigzag, scale }
}

/// Code and length of every symbol of one Huffman table.
struct Huffman {
    code: [u16; 256],
    len: [u8; 256],
}

fn huffman(bits: &[u8; 16], values: &[u8]) -> Huffman {
    let mut h = Huffman {
        code: [0; 256],
        len: [0; 256],
    };
    let mut code = 0u16;
    let mut k = 0;
    for (i, &count) in bits.iter().enumerate() {
        for _ in 0..count {
            h.code[values[k] as usize] = code;
            h.len[values[k] as usize] = i as u8 + 1;
            code += 1;
            k += 1;
        }
        code <<= 1;
    }
    h
}

/// The entropy-coded segment: bits packed MSB first, 0xFF stuffed.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    #[inline]
    fn put(&mut self, code: u32, len: u32) {
        self.acc = (self.acc << len) | code as u64;
        self.n += len;
        while self.n >= 8 {
            self.n -= 8;
            let byte = (self.acc >> self.n) as u8;
            self.out.push(byte);
            if byte == 0xff {
                self.out.push(0);
            }
        }
    }

    fn finish(&mut self) {
        if self.n > 0 {
            let pad = 8 - self.n;
            self.put((1 << pad) - 1, pad);
        }
    }
}

/// Forward DCT of one 8×8 block of level-shifted samples, in place (natural order).
fn fdct(d: &mut [f32; 64]) {
    for pass in 0..2 {
        for i in 0..8 {
            let at = |k: usize| if pass == 0 { i * 8 + k } else { k * 8 + i };
            let (d0, d1, d2, d3) = (d[at(0)], d[at(1)], d[at(2)], d[at(3)]);
            let (d4, d5, d6, d7) = (d[at(4)], d[at(5)], d[at(6)], d[at(7)]);
            let (t0, t7) = (d0 + d7, d0 - d7);
            let (t1, t6) = (d1 + d6, d1 - d6);
            let (t2, t5) = (d2 + d5, d2 - d5);
            let (t3, t4) = (d3 + d4, d3 - d4);
            let (t10, t13) = (t0 + t3, t0 - t3);
            let (t11, t12) = (t1 + t2, t1 - t2);
            d[at(0)] = t10 + t11;
            d[at(4)] = t10 - t11;
            let z1 = (t12 + t13) * 0.707_106_77;
            d[at(2)] = t13 + z1;
            d[at(6)] = t13 - z1;
            let (t10, t11, t12) = (t4 + t5, t5 + t6, t6 + t7);
            let z5 = (t10 - t12) * 0.382_683_43;
            let z2 = 0.541_196_1 * t10 + z5;
            let z4 = 1.306_563 * t12 + z5;
            let z3 = t11 * 0.707_106_77;
            let (z11, z13) = (t7 + z3, t7 - z3);
            d[at(5)] = z13 + z2;
            d[at(3)] = z13 - z2;
            d[at(1)] = z11 + z4;
            d[at(7)] = z11 - z4;
        }
    }
}

/// Bits needed for `v`'s magnitude, and the value bits as JPEG writes them.
#[inline]
fn magnitude(v: i32) -> (u32, u32) {
    let a = v.unsigned_abs();
    let size = 32 - a.leading_zeros();
    let bits = if v < 0 { (v - 1) as u32 } else { v as u32 };
    (size, bits & ((1u32 << size) - 1))
}

struct Encoder {
    bits: Bits,
    luma: Quant,
    chroma: Quant,
    dc: [Huffman; 2],
    ac: [Huffman; 2],
}

impl Encoder {
    /// Transforms, quantises and writes one block; returns its DC for the next.
    fn block(&mut self, samples: &mut [f32; 64], chroma: bool, prev_dc: i32) -> i32 {
        fdct(samples);
        let (q, t) = if chroma {
            (&self.chroma, 1)
        } else {
            (&self.luma, 0)
        };
        let mut coef = [0i32; 64];
        for (i, &natural) in ZIGZAG.iter().enumerate() {
            coef[i] = (samples[natural] * q.scale[natural]).round() as i32;
        }
        let (dc, ac) = (&self.dc[t], &self.ac[t]);
        let (size, value) = magnitude(coef[0] - prev_dc);
        self.bits
            .put(dc.code[size as usize] as u32, dc.len[size as usize] as u32);
        if size > 0 {
            self.bits.put(value, size);
        }
        let mut run = 0u32;
        for &c in &coef[1..] {
            if c == 0 {
                run += 1;
                continue;
            }
            while run >= 16 {
                self.bits.put(ac.code[0xf0] as u32, ac.len[0xf0] as u32);
                run -= 16;
            }
            let (size, value) = magnitude(c);
            let symbol = ((run << 4) | size) as usize;
            self.bits.put(ac.code[symbol] as u32, ac.len[symbol] as u32);
            self.bits.put(value, size);
            run = 0;
        }
        if run > 0 {
            self.bits.put(ac.code[0] as u32, ac.len[0] as u32);
        }
        coef[0]
    }
}

fn segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend_from_slice(&[0xff, marker]);
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(body);
}

fn headers(out: &mut Vec<u8>, w: usize, h: usize, color: bool, enc: &Encoder, icc: Option<&[u8]>) {
    out.extend_from_slice(&[0xff, 0xd8]);
    segment(out, 0xe0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    if let Some(icc) = icc.filter(|p| !p.is_empty()) {
        let chunks: Vec<&[u8]> = icc.chunks(65_519).collect();
        if chunks.len() <= 255 {
            for (i, chunk) in chunks.iter().enumerate() {
                let mut body = b"ICC_PROFILE\0".to_vec();
                body.push(i as u8 + 1);
                body.push(chunks.len() as u8);
                body.extend_from_slice(chunk);
                segment(out, 0xe2, &body);
            }
        }
    }
    let mut dqt = vec![0u8];
    dqt.extend_from_slice(&enc.luma.zigzag);
    if color {
        dqt.push(1);
        dqt.extend_from_slice(&enc.chroma.zigzag);
    }
    segment(out, 0xdb, &dqt);
    let mut sof = vec![8];
    sof.extend_from_slice(&(h as u16).to_be_bytes());
    sof.extend_from_slice(&(w as u16).to_be_bytes());
    if color {
        sof.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    } else {
        sof.extend_from_slice(&[1, 1, 0x11, 0]);
    }
    segment(out, 0xc0, &sof);
    let mut dht = Vec::new();
    let tables: &[(u8, &[u8; 16], &[u8])] = &[
        (0x00, &DC_LUMA_BITS, &DC_VALUES),
        (0x10, &AC_LUMA_BITS, &AC_LUMA_VALUES),
        (0x01, &DC_CHROMA_BITS, &DC_VALUES),
        (0x11, &AC_CHROMA_BITS, &AC_CHROMA_VALUES),
    ];
    for (class, bits, values) in &tables[..if color { 4 } else { 2 }] {
        dht.push(*class);
        dht.extend_from_slice(*bits);
        dht.extend_from_slice(values);
    }
    segment(out, 0xc4, &dht);
    if color {
        segment(out, 0xda, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
    } else {
        segment(out, 0xda, &[1, 1, 0x00, 0, 63, 0]);
    }
}

fn encoder(quality: u8) -> Encoder {
    Encoder {
        bits: Bits {
            out: Vec::new(),
            acc: 0,
            n: 0,
        },
        luma: quant(&LUMA_Q, quality),
        chroma: quant(&CHROMA_Q, quality),
        dc: [
            huffman(&DC_LUMA_BITS, &DC_VALUES),
            huffman(&DC_CHROMA_BITS, &DC_VALUES),
        ],
        ac: [
            huffman(&AC_LUMA_BITS, &AC_LUMA_VALUES),
            huffman(&AC_CHROMA_BITS, &AC_CHROMA_VALUES),
        ],
    }
}

/// Encodes interleaved RGB (`w`×`h`, 3 bytes per pixel) at `quality` (1–100).
pub fn encode_rgb(rgb: &[u8], w: usize, h: usize, quality: u8, icc: Option<&[u8]>) -> Vec<u8> {
    assert!(w > 0 && h > 0 && w <= 65_535 && h <= 65_535 && rgb.len() >= w * h * 3);
    let mut enc = encoder(quality);
    enc.bits.out.reserve(w * h / 4);
    // Planes padded to whole 16×16 MCUs by repeating the last row and column.
    let (pw, ph) = (w.div_ceil(16) * 16, h.div_ceil(16) * 16);
    let mut y_plane = vec![0f32; pw * ph];
    let (cw, ch) = (pw / 2, ph / 2);
    let mut cb = vec![0f32; cw * ch];
    let mut cr = vec![0f32; cw * ch];
    for py in 0..ph {
        let row = &rgb[py.min(h - 1) * w * 3..][..w * 3];
        for px in 0..pw {
            let p = &row[px.min(w - 1) * 3..][..3];
            let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
            y_plane[py * pw + px] = 0.299 * r + 0.587 * g + 0.114 * b - 128.0;
            let c = (py / 2) * cw + px / 2;
            cb[c] += (-0.168_736 * r - 0.331_264 * g + 0.5 * b) * 0.25;
            cr[c] += (0.5 * r - 0.418_688 * g - 0.081_312 * b) * 0.25;
        }
    }
    let mut block = [0f32; 64];
    let (mut dy, mut dcb, mut dcr) = (0, 0, 0);
    for my in (0..ph).step_by(16) {
        for mx in (0..pw).step_by(16) {
            for (oy, ox) in [(0, 0), (0, 8), (8, 0), (8, 8)] {
                for r in 0..8 {
                    let from = (my + oy + r) * pw + mx + ox;
                    block[r * 8..r * 8 + 8].copy_from_slice(&y_plane[from..from + 8]);
                }
                dy = enc.block(&mut block, false, dy);
            }
            for (plane, prev) in [(&cb, &mut dcb), (&cr, &mut dcr)] {
                for r in 0..8 {
                    let from = (my / 2 + r) * cw + mx / 2;
                    block[r * 8..r * 8 + 8].copy_from_slice(&plane[from..from + 8]);
                }
                *prev = enc.block(&mut block, true, *prev);
            }
        }
    }
    finish(enc, w, h, true, icc)
}

/// Encodes 8-bit grey (`w`×`h`) at `quality` (1–100).
pub fn encode_gray(gray: &[u8], w: usize, h: usize, quality: u8, icc: Option<&[u8]>) -> Vec<u8> {
    assert!(w > 0 && h > 0 && w <= 65_535 && h <= 65_535 && gray.len() >= w * h);
    let mut enc = encoder(quality);
    let mut block = [0f32; 64];
    let mut dc = 0;
    for by in (0..h).step_by(8) {
        for bx in (0..w).step_by(8) {
            for r in 0..8 {
                let row = &gray[(by + r).min(h - 1) * w..][..w];
                for c in 0..8 {
                    block[r * 8 + c] = row[(bx + c).min(w - 1)] as f32 - 128.0;
                }
            }
            dc = enc.block(&mut block, false, dc);
        }
    }
    finish(enc, w, h, false, icc)
}

fn finish(mut enc: Encoder, w: usize, h: usize, color: bool, icc: Option<&[u8]>) -> Vec<u8> {
    enc.bits.finish();
    let mut out = Vec::with_capacity(enc.bits.out.len() + 1024);
    headers(&mut out, w, h, color, &enc, icc);
    out.extend_from_slice(&enc.bits.out);
    out.extend_from_slice(&[0xff, 0xd9]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse: f64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
            .sum::<f64>()
            / a.len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
    }

    #[test]
    fn colour_images_decode_back_close_to_the_source() {
        for (w, h) in [(37usize, 23usize), (16, 16), (1, 1), (200, 120)] {
            let rgb: Vec<u8> = (0..w * h)
                .flat_map(|i| {
                    let (x, y) = (i % w, i / w);
                    [(x * 255 / w) as u8, (y * 255 / h) as u8, 128]
                })
                .collect();
            let jpeg = encode_rgb(&rgb, w, h, 90, None);
            let back = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg)
                .unwrap()
                .to_rgb8();
            assert_eq!((back.width() as usize, back.height() as usize), (w, h));
            if w > 8 {
                let p = psnr(&rgb, back.as_raw());
                assert!(p > 32.0, "{w}×{h}: PSNR {p:.1}");
            }
        }
    }

    #[test]
    fn noisy_and_grey_images_round_trip() {
        let mut seed = 7u32;
        let mut noise = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 16) as u8
        };
        let rgb: Vec<u8> = (0..64 * 48 * 3).map(|_| noise()).collect();
        let jpeg = encode_rgb(&rgb, 64, 48, 100, None);
        let back = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert_eq!(back.dimensions(), (64, 48));
        let gray: Vec<u8> = (0..50 * 30).map(|i| (i % 50 * 5) as u8).collect();
        let jpeg = encode_gray(&gray, 50, 30, 85, Some(b"not really a profile"));
        let back = image::load_from_memory(&jpeg).unwrap();
        assert_eq!(back.color(), image::ColorType::L8);
        assert!(psnr(&gray, back.as_bytes()) > 35.0);
        assert!(jpeg.windows(12).any(|w| w == b"ICC_PROFILE\0"));
    }

    #[test]
    fn magnitudes_follow_the_standard() {
        assert_eq!(magnitude(0), (0, 0));
        assert_eq!(magnitude(1), (1, 1));
        assert_eq!(magnitude(-1), (1, 0));
        assert_eq!(magnitude(5), (3, 5));
        assert_eq!(magnitude(-5), (3, 2));
        assert_eq!(magnitude(1023), (10, 1023));
    }
}
