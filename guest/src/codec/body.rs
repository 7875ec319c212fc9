//! Response bodies: `Content-Encoding` decoding under a size cap.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress};

use crate::errors::transport;
use crate::model::{Error, ErrorCode};

/// The body's bytes after undoing `encoding`, refusing anything over `max` bytes.
pub fn decode(encoding: Option<&str>, body: &[u8], max: u32) -> Result<Vec<u8>, Error> {
    let max = max as usize;
    let too_large = |what: &str| {
        transport(
            ErrorCode::ResourceExhausted,
            format!("response body is larger than the {max}-byte limit{what}"),
        )
    };
    match encoding.map(str::trim) {
        None | Some("") | Some("identity") => {
            if body.len() > max {
                return Err(too_large(""));
            }
            Ok(body.to_vec())
        }
        // Connect: an empty body is never compressed, whatever the header says.
        Some(e) if e.eq_ignore_ascii_case("gzip") && body.is_empty() => Ok(Vec::new()),
        Some(e) if e.eq_ignore_ascii_case("gzip") => gunzip(body, max).map_err(|e| match e {
            Gzip::TooLarge => too_large(" after gzip decoding"),
            Gzip::Malformed(why) => {
                transport(ErrorCode::Internal, format!("malformed gzip response body: {why}"))
            }
        }),
        Some(other) => {
            Err(transport(ErrorCode::Internal, format!("unsupported response content-encoding {other:?}")))
        }
    }
}

/// Why a gzip body did not decode.
#[derive(Debug, PartialEq, Eq)]
enum Gzip {
    /// More than the limit, counted over every member.
    TooLarge,
    /// Not gzip, truncated, a bad checksum, or bytes after a member that are not a member.
    Malformed(String),
}

const MAGIC: [u8; 2] = [0x1f, 0x8b];
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;

/// Decodes every member of a gzip body (RFC 1952 §2.2: a gzip file is a series of members,
/// and a decoder concatenates their data, as Go's, Node's and Python's readers do). Anything
/// after a member must be another member; at most `max` bytes come out in total.
fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>, Gzip> {
    let mut out = Vec::new();
    let mut decompressor = Box::new(DecompressorOxide::new());
    let mut offset = 0;
    let mut member = 0usize;
    while offset < body.len() {
        let rest = &body[offset..];
        if member > 0 && !rest.starts_with(&MAGIC) {
            return Err(Gzip::Malformed(format!(
                "{} byte(s) after gzip member {member} are not a gzip member",
                rest.len()
            )));
        }
        member += 1;
        let header = header_len(rest).map_err(|why| Gzip::Malformed(format!("member {member}: {why}")))?;
        let start = out.len();
        decompressor.init();
        let deflate_len = inflate(&mut decompressor, &rest[header..], &mut out, start, max, size_hint(rest))
            .map_err(|e| match e {
                Gzip::Malformed(why) => Gzip::Malformed(format!("member {member}: {why}")),
                other => other,
            })?;
        let trailer = header + deflate_len;
        let Some(trailer) = rest.get(trailer..trailer + 8) else {
            return Err(Gzip::Malformed(format!("member {member}: truncated (no CRC32/ISIZE trailer)")));
        };
        let data = &out[start..];
        let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if crc != crc32(data) {
            return Err(Gzip::Malformed(format!("member {member}: CRC32 mismatch")));
        }
        if size != data.len() as u32 {
            return Err(Gzip::Malformed(format!("member {member}: ISIZE mismatch")));
        }
        offset += header + deflate_len + 8;
    }
    Ok(out)
}

/// The length of the gzip member header at the start of `data`.
fn header_len(data: &[u8]) -> Result<usize, &'static str> {
    if data.len() < 10 {
        return Err("truncated header");
    }
    if data[..2] != MAGIC {
        return Err("not gzip (bad magic bytes)");
    }
    if data[2] != 8 {
        return Err("compression method is not deflate");
    }
    let flags = data[3];
    if flags & FRESERVED != 0 {
        return Err("reserved header flags are set");
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let Some(len) = data.get(at..at + 2) else { return Err("truncated header") };
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let Some(end) = data.get(at..).and_then(|s| s.iter().position(|b| *b == 0)) else {
                return Err("truncated header");
            };
            at += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    if at > data.len() { Err("truncated header") } else { Ok(at) }
}

/// Deflate's largest expansion: a 258-byte match in under two bits (RFC 1951 §3.2.5) is at
/// most about 1032 output bytes per input byte.
const MAX_EXPANSION: usize = 1032;

/// The output size to make room for first: the ISIZE of the body's last member (RFC 1952
/// §2.3.1: the last 4 bytes, the uncompressed size modulo 2³²), which is exact for the
/// usual single-member answer. Only a hint: a wrong one costs a second allocation, and it is
/// capped by what `input` could inflate to.
fn size_hint(member: &[u8]) -> usize {
    let Some(isize) = member.len().checked_sub(4).and_then(|at| member.get(at..)) else { return 0 };
    let isize = u32::from_le_bytes([isize[0], isize[1], isize[2], isize[3]]) as usize;
    isize.min(member.len().saturating_mul(MAX_EXPANSION))
}

/// Inflates one raw deflate stream from `input` onto `out` (whose bytes from `start` are this
/// stream's output so far), keeping `out` at most `max` bytes; `hint` is the expected output
/// size (0: unknown). Returns how many input bytes the stream took.
fn inflate(
    decompressor: &mut DecompressorOxide,
    input: &[u8],
    out: &mut Vec<u8>,
    start: usize,
    max: usize,
    hint: usize,
) -> Result<usize, Gzip> {
    let mut consumed = 0;
    let mut written = out.len();
    loop {
        if written == out.len() {
            // Room for one byte over the limit, to tell "exactly max" from "more".
            let ceiling = max.saturating_add(1);
            if written >= ceiling {
                return Err(Gzip::TooLarge);
            }
            let grow = if written == start && hint > 0 {
                // One byte more than the hint: room to see the end of the stream.
                hint.saturating_add(1)
            } else {
                (written - start).max(input.len()).clamp(4096, 1 << 20)
            };
            out.resize(written.saturating_add(grow).min(ceiling), 0);
        }
        // The output of earlier members is not part of this stream's window.
        let (status, read, wrote) = decompress(
            decompressor,
            &input[consumed..],
            &mut out[start..],
            written - start,
            TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
        );
        consumed += read;
        written += wrote;
        if written > max {
            return Err(Gzip::TooLarge);
        }
        match status {
            TINFLStatus::Done => {
                out.truncate(written);
                return Ok(consumed);
            }
            TINFLStatus::HasMoreOutput => {}
            TINFLStatus::FailedCannotMakeProgress | TINFLStatus::NeedsMoreInput => {
                return Err(Gzip::Malformed("truncated deflate stream".into()));
            }
            other => return Err(Gzip::Malformed(format!("invalid deflate data ({other:?})"))),
        }
    }
}

/// CRC-32 (IEEE, reflected), as the gzip trailer carries it.
fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    !data.iter().fold(!0u32, |crc, byte| TABLE[((crc ^ u32::from(*byte)) & 0xff) as usize] ^ (crc >> 8))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A gzip member storing `data` uncompressed (deflate "stored" block), with its CRC.
    pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
        let mut out = alloc::vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        out.push(1); // final stored block
        let len = data.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(&crc32(data).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out
    }

    /// A gzip member of `data` compressed by a real deflate encoder, with a header carrying
    /// `flags` (FEXTRA, FNAME, FCOMMENT, FHCRC) and their fields.
    pub fn gzip_compressed(data: &[u8], flags: u8) -> Vec<u8> {
        let mut out = alloc::vec![0x1f, 0x8b, 8, flags, 1, 2, 3, 4, 0, 3];
        if flags & FEXTRA != 0 {
            out.extend_from_slice(&[4, 0, b'A', b'B', 0, 0]);
        }
        if flags & FNAME != 0 {
            out.extend_from_slice(b"vm.pb\0");
        }
        if flags & FCOMMENT != 0 {
            out.extend_from_slice(b"a comment\0");
        }
        if flags & FHCRC != 0 {
            out.extend_from_slice(&[0xaa, 0xbb]);
        }
        out.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
        out.extend_from_slice(&crc32(data).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out
    }

    fn internal(result: Result<Vec<u8>, Error>) -> String {
        match result {
            Err(Error::Transport(t)) if t.code == ErrorCode::Internal => t.message,
            other => panic!("expected an internal error, got {other:?}"),
        }
    }

    #[test]
    fn identity_and_missing_encodings_pass_through() {
        assert_eq!(decode(None, b"abc", 10).unwrap(), b"abc");
        assert_eq!(decode(Some("identity"), b"abc", 10).unwrap(), b"abc");
    }

    #[test]
    fn gzip_bodies_are_decoded_including_the_empty_message() {
        assert_eq!(decode(Some("gzip"), &gzip_stored(b"hello"), 10).unwrap(), b"hello");
        assert_eq!(decode(Some("gzip"), &gzip_stored(b""), 10).unwrap(), b"");
        assert_eq!(decode(Some("gzip"), b"", 10).unwrap(), b"");
    }

    #[test]
    fn over_limit_bodies_are_resource_exhausted() {
        let error = decode(None, &[0; 11], 10).unwrap_err();
        assert!(matches!(&error, Error::Transport(t) if t.code == ErrorCode::ResourceExhausted), "{error:?}");
        let error = decode(Some("gzip"), &gzip_stored(&[7; 64]), 10).unwrap_err();
        assert!(
            matches!(&error, Error::Transport(t) if t.code == ErrorCode::ResourceExhausted && t.message.contains("after gzip")),
            "{error:?}"
        );
    }

    #[test]
    fn malformed_gzip_and_unknown_encodings_are_internal_errors() {
        let error = decode(
            Some("gzip"),
            &[0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18],
            100,
        )
        .unwrap_err();
        assert!(matches!(&error, Error::Transport(t) if t.code == ErrorCode::Internal), "{error:?}");
        let error = decode(Some("br"), b"x", 100).unwrap_err();
        assert!(matches!(&error, Error::Transport(t) if t.message.contains("\"br\"")), "{error:?}");
    }

    #[test]
    fn crc32_matches_the_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn the_size_hint_is_the_last_isize_capped_by_what_the_input_can_inflate_to() {
        let body = gzip_compressed(&[7; 5000], 0);
        assert_eq!(size_hint(&body), 5000);
        let mut lying = body.clone();
        let at = lying.len() - 4;
        lying[at..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(size_hint(&lying), lying.len() * MAX_EXPANSION);
        assert_eq!(size_hint(&[1, 2, 3]), 0);
        // A lying ISIZE only sizes the first allocation: the trailer check still fails.
        let error = decode(Some("gzip"), &lying, 1 << 20).unwrap_err();
        assert!(matches!(&error, Error::Transport(t) if t.message.contains("ISIZE")), "{error:?}");
    }

    #[test]
    fn every_gzip_member_is_decoded_in_order() {
        let text: Vec<u8> = (0..20_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let mut body = gzip_compressed(&text[..30_000], 0);
        body.extend(gzip_stored(b""));
        body.extend(gzip_compressed(&text[30_000..], FEXTRA | FNAME | FCOMMENT | FHCRC));
        assert_eq!(decode(Some("gzip"), &body, 1 << 20).unwrap(), text);
        for flags in [FEXTRA, FNAME, FCOMMENT, FHCRC] {
            assert_eq!(decode(Some("GZIP"), &gzip_compressed(b"hello", flags), 10).unwrap(), b"hello");
        }
    }

    #[test]
    fn the_limit_counts_every_member() {
        let mut body = gzip_stored(&[1; 6]);
        body.extend(gzip_compressed(&[2; 6], 0));
        assert_eq!(decode(Some("gzip"), &body, 12).unwrap().len(), 12, "exactly the limit is fine");
        let error = decode(Some("gzip"), &body, 11).unwrap_err();
        assert!(
            matches!(&error, Error::Transport(t) if t.code == ErrorCode::ResourceExhausted && t.message.contains("after gzip")),
            "{error:?}"
        );
        // A bomb stops at the limit instead of inflating all of it.
        let bomb = gzip_compressed(&alloc::vec![0; 8 << 20], 0);
        let error = decode(Some("gzip"), &bomb, 1 << 20).unwrap_err();
        assert!(matches!(&error, Error::Transport(t) if t.code == ErrorCode::ResourceExhausted), "{error:?}");
    }

    #[test]
    fn bytes_after_a_member_must_be_a_member() {
        let mut body = gzip_stored(b"ok");
        body.extend_from_slice(b"\0\0\0\0");
        assert!(internal(decode(Some("gzip"), &body, 100)).contains("4 byte(s) after gzip member 1"));
        let mut body = gzip_stored(b"ok");
        body.extend(gzip_stored(b"ok"));
        body.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0]);
        assert!(internal(decode(Some("gzip"), &body, 100)).contains("member 3: truncated header"));
    }

    #[test]
    fn corrupt_members_are_internal_errors() {
        let good = gzip_compressed(b"hello hello hello", 0);
        let cases: [(&str, Vec<u8>); 6] = [
            ("CRC32 mismatch", {
                let mut b = good.clone();
                let n = b.len();
                b[n - 8] ^= 1;
                b
            }),
            ("ISIZE mismatch", {
                let mut b = good.clone();
                let n = b.len();
                b[n - 4] ^= 1;
                b
            }),
            ("no CRC32/ISIZE trailer", good[..good.len() - 3].to_vec()),
            ("truncated deflate stream", good[..12].to_vec()),
            ("reserved header flags", {
                let mut b = good.clone();
                b[3] = 0x20;
                b
            }),
            ("not deflate", {
                let mut b = good.clone();
                b[2] = 7;
                b
            }),
        ];
        for (want, body) in cases {
            let message = internal(decode(Some("gzip"), &body, 100));
            assert!(message.contains(want), "{want}: {message}");
        }
    }
}
