//! Videos: size and duration read from MP4/QuickTime headers (no decoding),
//! and a thumbnail made by `ffmpeg` when one is installed.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::media::model::Format;

/// What the container says about a video; `None` where it does not say.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct VideoMeta {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_secs: Option<f64>,
}

/// Largest `moov` box read into memory (a 100 MiB file's is a few hundred KiB).
const MAX_MOOV_BYTES: u64 = 32 * 1024 * 1024;

/// Width, height and duration of an MP4 or MOV file from its `moov` box;
/// other containers (and damaged files) give an empty answer, never an error.
pub fn probe(path: &Path, format: Format) -> VideoMeta {
    if !matches!(format, Format::Mp4 | Format::Mov) {
        return VideoMeta::default();
    }
    read_moov(path)
        .map(|moov| parse_moov(&moov))
        .unwrap_or_default()
}

fn read_moov(path: &Path) -> Option<Vec<u8>> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let mut offset = 0u64;
    while offset + 8 <= len {
        f.seek(SeekFrom::Start(offset)).ok()?;
        let mut head = [0u8; 8];
        f.read_exact(&mut head).ok()?;
        let mut size = u32::from_be_bytes(head[..4].try_into().ok()?) as u64;
        let mut header = 8u64;
        if size == 1 {
            let mut large = [0u8; 8];
            f.read_exact(&mut large).ok()?;
            size = u64::from_be_bytes(large);
            header = 16;
        } else if size == 0 {
            size = len - offset;
        }
        if size < header {
            return None;
        }
        if &head[4..8] == b"moov" {
            let body = size - header;
            if body > MAX_MOOV_BYTES || offset + size > len {
                return None;
            }
            let mut buf = vec![0u8; body as usize];
            f.read_exact(&mut buf).ok()?;
            return Some(buf);
        }
        offset = offset.checked_add(size)?;
    }
    None
}

/// The child boxes of a box body: `(type, body)`.
fn children(mut buf: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= 8 {
        let size = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let kind = [buf[4], buf[5], buf[6], buf[7]];
        let size = if size == 0 { buf.len() } else { size };
        if size < 8 || size > buf.len() {
            break;
        }
        out.push((kind, &buf[8..size]));
        buf = &buf[size..];
    }
    out
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn parse_moov(moov: &[u8]) -> VideoMeta {
    let mut meta = VideoMeta::default();
    for (kind, body) in children(moov) {
        match &kind {
            b"mvhd" => {
                let (scale, duration) = if body.first() == Some(&1) {
                    (be32(body, 20), be64(body, 24))
                } else {
                    (be32(body, 12), be32(body, 16).map(u64::from))
                };
                if let (Some(s), Some(d)) = (scale, duration) {
                    if s > 0 && d != u64::MAX && d != u32::MAX as u64 {
                        meta.duration_secs = Some((d as f64 / s as f64 * 1000.0).round() / 1000.0);
                    }
                }
            }
            b"trak" if meta.width.is_none() => {
                for (inner, tkhd) in children(body) {
                    if &inner == b"tkhd" && tkhd.len() >= 8 {
                        let w = be32(tkhd, tkhd.len() - 8).unwrap_or(0) >> 16;
                        let h = be32(tkhd, tkhd.len() - 4).unwrap_or(0) >> 16;
                        if w > 0 && h > 0 {
                            meta.width = Some(w);
                            meta.height = Some(h);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    meta
}

/// The `ffmpeg` to run: `setting` as a path when it names one, else looked
/// up on `PATH`; `None` (thumbnails skipped) when empty or not found.
pub fn find_ffmpeg(setting: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let setting = setting.trim();
    if setting.is_empty() {
        return None;
    }
    let executable = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if setting.contains('/') {
        let p = PathBuf::from(setting);
        return executable(&p).then_some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(setting))
            .find(|p| executable(p))
    })
}

/// Writes a 300×300 padded JPEG of the video's first frame to `output`
/// (the original's eager `c_pad` thumbnail). False when ffmpeg failed, took
/// longer than 20 s, or wrote something that is not a JPEG.
pub async fn thumbnail(ffmpeg: &Path, input: &Path, output: &Path) -> bool {
    let mut cmd = tokio::process::Command::new(ffmpeg);
    cmd.args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(input)
        .args([
            "-frames:v",
            "1",
            "-vf",
            "scale=300:300:force_original_aspect_ratio=decrease,pad=300:300:(ow-iw)/2:(oh-ih)/2",
            "-f",
            "image2",
            "-c:v",
            "mjpeg",
        ])
        .arg(output)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let ran = match cmd.spawn() {
        Ok(mut child) => matches!(
            tokio::time::timeout(Duration::from_secs(20), child.wait()).await,
            Ok(Ok(status)) if status.success()
        ),
        Err(_) => false,
    };
    if !ran {
        return false;
    }
    let mut head = [0u8; 16];
    std::fs::File::open(output)
        .and_then(|mut f| f.read(&mut head))
        .map(|n| Format::sniff(&head[..n]) == Some(Format::Jpeg))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    /// A minimal MP4: ftyp, moov (mvhd + one video trak/tkhd), mdat.
    fn tiny_mp4(width: u32, height: u32, seconds: u32, payload: usize) -> Vec<u8> {
        let mut mvhd = vec![0u8; 100];
        mvhd[12..16].copy_from_slice(&1000u32.to_be_bytes());
        mvhd[16..20].copy_from_slice(&(seconds * 1000).to_be_bytes());
        let mut tkhd = vec![0u8; 84];
        tkhd[76..80].copy_from_slice(&(width << 16).to_be_bytes());
        tkhd[80..84].copy_from_slice(&(height << 16).to_be_bytes());
        let trak = mp4_box(b"trak", &mp4_box(b"tkhd", &tkhd));
        let moov = mp4_box(b"moov", &[mp4_box(b"mvhd", &mvhd), trak].concat());
        let mut ftyp = b"isom\0\0\x02\0isomiso2avc1mp41".to_vec();
        ftyp = mp4_box(b"ftyp", &ftyp);
        [ftyp, mp4_box(b"mdat", &vec![0u8; payload]), moov].concat()
    }

    #[test]
    fn reads_size_and_duration_from_moov_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.mp4");
        std::fs::write(&p, tiny_mp4(640, 360, 12, 5000)).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(Format::sniff(&bytes), Some(Format::Mp4));
        let meta = probe(&p, Format::Mp4);
        assert_eq!(meta.width, Some(640));
        assert_eq!(meta.height, Some(360));
        assert_eq!(meta.duration_secs, Some(12.0));
        std::fs::write(&p, b"\0\0\0\x18ftypisom garbage").unwrap();
        assert_eq!(probe(&p, Format::Mp4), VideoMeta::default());
        assert_eq!(probe(&p, Format::Webm), VideoMeta::default());
    }

    #[test]
    fn ffmpeg_is_optional() {
        assert_eq!(find_ffmpeg(""), None);
        assert_eq!(find_ffmpeg("/nonexistent/ffmpeg"), None);
        assert_eq!(find_ffmpeg("baitech-no-such-program"), None);
        assert!(find_ffmpeg("sh").is_some());
    }
}
