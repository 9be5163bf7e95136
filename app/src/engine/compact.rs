//! Results stored compactly: a results part (a task's, a lead import's) is stored gzip-compressed
//! in a `packed` column; rows written before compression keep their text in `body` (and no
//! `packed`), and read back the same way.

use std::io::{Read, Write};

use crate::db::DbError;

fn failed(source: std::io::Error) -> DbError {
    DbError::File { what: "compressing a results part", source }
}

/// `bytes` compressed for storing (gzip, fast level: CSV shrinks about sevenfold).
pub fn pack(bytes: &[u8]) -> Result<Vec<u8>, DbError> {
    let mut out =
        flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 4 + 64), flate2::Compression::fast());
    out.write_all(bytes).map_err(failed)?;
    out.finish().map_err(failed)
}

/// A stored part's bytes: `packed` uncompressed, or `body` when it was stored before
/// compression.
pub fn unpack(body: String, packed: Option<Vec<u8>>) -> Result<Vec<u8>, DbError> {
    match packed {
        None => Ok(body.into_bytes()),
        Some(packed) => {
            let mut out = Vec::with_capacity(packed.len() * 6);
            flate2::read::GzDecoder::new(packed.as_slice())
                .read_to_end(&mut out)
                .map_err(|source| DbError::File { what: "reading a compressed results part", source })?;
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{pack, unpack};

    #[test]
    fn a_part_comes_back_as_it_went_in_and_old_text_still_reads() {
        let csv = "\"2\",\"1000001\",\"Wrong number\",\"rejected\",\"1000001\",\"\"\n".repeat(1000);
        let packed = pack(csv.as_bytes()).expect("pack");
        assert!(packed.len() * 5 < csv.len(), "{} bytes", packed.len());
        assert_eq!(unpack(String::new(), Some(packed)).expect("unpack"), csv.as_bytes());
        assert_eq!(unpack(csv.clone(), None).expect("text"), csv.as_bytes());
        assert_eq!(unpack(String::new(), Some(pack(b"").expect("pack"))).expect("empty"), b"");
        assert!(unpack(String::new(), Some(b"not gzip".to_vec())).is_err());
    }
}
