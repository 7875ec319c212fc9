//! Response bodies: `Content-Encoding` decoding under a size cap.

use alloc::format;
use alloc::vec::Vec;

use zune_inflate::errors::DecodeErrorStatus;
use zune_inflate::{DeflateDecoder, DeflateOptions};

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
        Some(e) if e.eq_ignore_ascii_case("gzip") => {
            let options = DeflateOptions::default().set_limit(max).set_size_hint(body.len().min(max));
            let decoded =
                DeflateDecoder::new_with_options(body, options).decode_gzip().map_err(|e| match e.error {
                    DecodeErrorStatus::OutputLimitExceeded(..) => too_large(" after gzip decoding"),
                    other => {
                        transport(ErrorCode::Internal, format!("malformed gzip response body: {other:?}"))
                    }
                })?;
            // The decoder checks its limit per compressed block; stored blocks are checked here.
            if decoded.len() > max {
                return Err(too_large(" after gzip decoding"));
            }
            Ok(decoded)
        }
        Some(other) => {
            Err(transport(ErrorCode::Internal, format!("unsupported response content-encoding {other:?}")))
        }
    }
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

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for byte in data {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
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
}
