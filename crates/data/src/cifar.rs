//! CIFAR-10 in its binary format (Krizhevsky 2009, <https://www.cs.toronto.edu/~kriz/cifar.html>).
//!
//! Each file is a sequence of 3,073-byte records: one label byte (0–9), then 3,072 pixel bytes —
//! the 1,024 red values of the 32×32 image row by row, then the green, then the blue. That is the
//! sample shape `[3, 32, 32]` as stored; pixels are scaled to [0, 1] by dividing by 255.

use std::path::{Path, PathBuf};

use majmin_core::Dataset;

use crate::error::{thousands, LoadError};
use crate::io::{find_in, open, require_dir, DataFile};
use crate::limits::MAX_DATASET_VALUES;
use crate::spec::Split;

/// Bytes per record: 1 label byte + 3 × 32 × 32 pixel bytes.
pub const CIFAR_RECORD: usize = 1 + CIFAR_PIXELS;
/// Pixel bytes per image.
pub const CIFAR_PIXELS: usize = 3 * 32 * 32;
/// CIFAR-10 has ten classes.
pub const CIFAR_CLASSES: usize = 10;

/// The batch files of a split, in order: `data_batch_1.bin` … `data_batch_5.bin`, or
/// `test_batch.bin`.
pub fn cifar10_file_names(split: Split) -> Vec<String> {
    match split {
        Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
        Split::Test => vec!["test_batch.bin".to_string()],
    }
}

/// Loads one split of CIFAR-10 from `dir` (or from its `cifar-10-batches-bin` subfolder, as the
/// official archive unpacks). Every batch file of the split must be present.
pub fn load_cifar10_dir(dir: &Path, split: Split) -> Result<Dataset, LoadError> {
    let names = cifar10_file_names(split);
    require_dir(
        dir,
        &format!("the CIFAR-10 binary batches {}", names.join(", ")),
    )?;
    let nested = dir.join("cifar-10-batches-bin");
    let base = if !dir.join(&names[0]).is_file() && nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    };
    let files = names
        .iter()
        .map(|n| find_in(&base, std::slice::from_ref(n)))
        .collect::<Result<Vec<_>, _>>()?;
    load_cifar10_files(&files)
}

/// Loads and concatenates CIFAR-10 binary batch files.
///
/// The record count of each file comes from its length (plain files) and is checked against
/// [`MAX_DATASET_VALUES`] together with the files before it, before the file is read; a gzip file
/// is decompressed at most one byte past what the limit still allows.
pub fn load_cifar10_files(files: &[PathBuf]) -> Result<Dataset, LoadError> {
    let mut features = Vec::new();
    let mut labels = Vec::new();
    let limit_records = MAX_DATASET_VALUES / CIFAR_PIXELS as u64;
    for path in files {
        let mut file = open(path)?;
        let records_before = labels.len() as u64;
        let budget = limit_records.saturating_sub(records_before) * CIFAR_RECORD as u64;
        let too_large = |file: &DataFile, offset: u64, records: u128| {
            file.too_large(
                offset,
                format!(
                    "{} records of 3,072 pixels (with the {} records of the files before)",
                    thousands(records),
                    thousands(records_before)
                ),
                (records + u128::from(records_before)) * CIFAR_PIXELS as u128,
                u128::from(MAX_DATASET_VALUES),
                "values",
                "MAX_DATASET_VALUES",
            )
        };
        if let Some(len) = file.known_len() {
            if len > budget {
                return Err(too_large(&file, 0, u128::from(len / CIFAR_RECORD as u64)));
            }
        }
        let bytes = file.read_up_to(budget + 1)?;
        let len = bytes.len();
        if len as u64 > budget {
            return Err(too_large(
                &file,
                budget,
                u128::from(budget / CIFAR_RECORD as u64) + 1,
            ));
        }
        if len == 0 {
            return Err(file.truncated(
                0,
                format!(
                    "at least one {}-byte record (1 label byte + 3,072 pixel bytes)",
                    thousands(CIFAR_RECORD as u64)
                ),
                "an empty file".into(),
            ));
        }
        let whole = len / CIFAR_RECORD;
        let rest = len % CIFAR_RECORD;
        if rest != 0 {
            return Err(file.truncated(
                len as u64,
                format!(
                    "a file size that is a multiple of the {}-byte record (1 label byte + 3,072 pixel bytes); \
                     record {} starts at byte {} and needs {} bytes",
                    thousands(CIFAR_RECORD as u64),
                    thousands(whole as u64),
                    thousands((whole * CIFAR_RECORD) as u64),
                    thousands(CIFAR_RECORD as u64)
                ),
                format!("{} whole records and {} bytes", thousands(whole as u64), thousands(rest as u64)),
            ));
        }
        features.reserve(whole * CIFAR_PIXELS);
        labels.reserve(whole);
        for (r, record) in bytes.chunks_exact(CIFAR_RECORD).enumerate() {
            let label = record[0];
            if usize::from(label) >= CIFAR_CLASSES {
                return Err(file.corrupt(
                    (r * CIFAR_RECORD) as u64,
                    format!(
                        "a label byte 0–9 at the start of record {}",
                        thousands(r as u64)
                    ),
                    label.to_string(),
                ));
            }
            labels.push(u32::from(label));
            features.extend(record[1..].iter().map(|&p| f32::from(p) / 255.0));
        }
        tracing::info!(path = %path.display(), records = whole, "loaded CIFAR-10 batch");
    }
    Dataset::new("cifar10", [3, 32, 32], features, labels, CIFAR_CLASSES).map_err(|source| {
        LoadError::Dataset {
            context: files
                .first()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "cifar10".into()),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `labels.len()` records; record r has pixel k = (r + k) % 256.
    fn batch(labels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        for (r, &l) in labels.iter().enumerate() {
            b.push(l);
            b.extend((0..CIFAR_PIXELS).map(|k| ((r + k) % 256) as u8));
        }
        b
    }

    fn write_train(dir: &Path, batches: &[Vec<u8>]) {
        for (i, b) in batches.iter().enumerate() {
            std::fs::write(dir.join(format!("data_batch_{}.bin", i + 1)), b).unwrap();
        }
    }

    #[test]
    fn reads_train_and_test_batches_in_order() {
        let dir = tempfile::tempdir().unwrap();
        write_train(
            dir.path(),
            &[
                batch(&[0, 1]),
                batch(&[2]),
                batch(&[3]),
                batch(&[4, 5, 6]),
                batch(&[9]),
            ],
        );
        std::fs::write(dir.path().join("test_batch.bin"), batch(&[8, 8])).unwrap();
        let ds = load_cifar10_dir(dir.path(), Split::Train).unwrap();
        assert_eq!(ds.len(), 8);
        assert_eq!(ds.shape(), [3, 32, 32]);
        assert_eq!(ds.labels(), &[0, 1, 2, 3, 4, 5, 6, 9]);
        // record 1 of batch 1, green channel pixel 0 = byte 1 + 1024 of the record's pixels
        assert_eq!(ds.sample(1)[1024], ((1 + 1024) % 256) as f32 / 255.0);
        assert_eq!(ds.group_sizes().minority, 3);
        let test = load_cifar10_dir(dir.path(), Split::Test).unwrap();
        assert_eq!(test.labels(), &[8, 8]);
    }

    #[test]
    fn finds_the_archive_subfolder() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("cifar-10-batches-bin");
        std::fs::create_dir(&nested).unwrap();
        std::fs::write(nested.join("test_batch.bin"), batch(&[1])).unwrap();
        assert_eq!(load_cifar10_dir(dir.path(), Split::Test).unwrap().len(), 1);
    }

    #[test]
    fn missing_batch_and_folder_are_named() {
        let dir = tempfile::tempdir().unwrap();
        write_train(dir.path(), &[batch(&[0]), batch(&[1])]);
        let msg = load_cifar10_dir(dir.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("data_batch_3.bin: no such file"), "{msg}");
        let msg = load_cifar10_dir(Path::new("/no/such/cifar"), Split::Test)
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("/no/such/cifar: no such folder"), "{msg}");
    }

    #[test]
    fn size_not_a_multiple_of_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = batch(&[1, 2]);
        b.truncate(CIFAR_RECORD + 100);
        std::fs::write(dir.path().join("test_batch.bin"), &b).unwrap();
        let msg = load_cifar10_dir(dir.path(), Split::Test)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("test_batch.bin: truncated at byte 3,173: expected a file size that is a multiple of the 3,073-byte record"), "{msg}");
        assert!(
            msg.contains("record 1 starts at byte 3,073")
                && msg.ends_with("found 1 whole records and 100 bytes"),
            "{msg}"
        );
        std::fs::write(dir.path().join("test_batch.bin"), b"").unwrap();
        let msg = load_cifar10_dir(dir.path(), Split::Test)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("truncated at byte 0") && msg.ends_with("found an empty file"),
            "{msg}"
        );
    }

    #[test]
    fn files_beyond_the_limit_are_refused_before_reading() {
        // sparse: as long as 349,526 records, no disk used
        let dir = tempfile::tempdir().unwrap();
        let records = MAX_DATASET_VALUES / CIFAR_PIXELS as u64 + 1;
        let file = std::fs::File::create(dir.path().join("test_batch.bin")).unwrap();
        file.set_len(records * CIFAR_RECORD as u64).unwrap();
        let e = load_cifar10_dir(dir.path(), Split::Test).unwrap_err();
        assert!(
            matches!(&e, LoadError::FileTooLarge { offset: 0, size, .. } if size.needed == u128::from(records) * 3072 && size.limit == 1_073_741_824),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .contains("test_batch.bin: at byte 0: 349,526 records of 3,072 pixels"),
            "{e}"
        );
    }

    #[test]
    fn label_of_ten_or_more_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("test_batch.bin"), batch(&[1, 2, 10])).unwrap();
        let msg = load_cifar10_dir(dir.path(), Split::Test)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("test_batch.bin: at byte 6,146: expected a label byte 0–9 at the start of record 2, found 10"), "{msg}");
    }
}
