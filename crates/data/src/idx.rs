//! MNIST and Fashion-MNIST in the IDX format (LeCun et al., <http://yann.lecun.com/exdb/mnist/>).
//!
//! An image file starts with the magic number `0x00000803` (unsigned bytes, 3 dimensions), then
//! the big-endian `u32` image count, rows and columns, then `count · rows · columns` pixel bytes.
//! A label file starts with `0x00000801`, the label count, then one byte per label (0–9).
//! Pixels are scaled to [0, 1] by dividing by 255; the sample shape is `[1, rows, columns]`.

use std::path::Path;

use majmin_core::Dataset;

use crate::error::{thousands, LoadError};
use crate::io::{find_in, open, require_dir, DataFile};
use crate::limits::MAX_DATASET_VALUES;
use crate::spec::Split;

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;
/// MNIST and Fashion-MNIST have ten classes.
pub const IDX_CLASSES: usize = 10;

/// The images and labels file names of a split, as distributed (without `.gz`).
pub fn idx_file_names(split: Split) -> (&'static str, &'static str) {
    match split {
        Split::Train => ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        Split::Test => ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }
}

/// Loads one split of MNIST or Fashion-MNIST from `dir`, which holds the standard file names
/// ([`idx_file_names`]), each plain or with `.gz` (the plain file wins when both exist).
/// `name` becomes the data set's name (`mnist`, `fashion-mnist`).
pub fn load_idx_dir(dir: &Path, split: Split, name: &str) -> Result<Dataset, LoadError> {
    let (images, labels) = idx_file_names(split);
    require_dir(dir, &format!("{images} and {labels}, each plain or .gz"))?;
    let images = find_in(dir, &[images.to_string(), format!("{images}.gz")])?;
    let labels = find_in(dir, &[labels.to_string(), format!("{labels}.gz")])?;
    load_idx_files(&images, &labels, name)
}

/// Loads an IDX image file and its label file (each plain or gzip).
///
/// The header is read first and the sizes it announces are checked against the file's length
/// (plain files) and [`MAX_DATASET_VALUES`] before any pixel is read; a gzip stream is
/// decompressed only as far as the header says it should go (plus one byte to detect extra data).
pub fn load_idx_files(images: &Path, labels: &Path, name: &str) -> Result<Dataset, LoadError> {
    let mut image_file = open(images)?;
    let (count, rows, cols) = read_image_header(&mut image_file)?;
    let pixel_count = (count * rows * cols) as u64;
    let pixels = image_file.read_up_to(pixel_count)?;
    let what = || {
        format!(
            "{} pixel bytes for {} images of {rows}×{cols} after the 16-byte header",
            thousands(pixel_count),
            thousands(count as u64)
        )
    };
    if (pixels.len() as u64) < pixel_count {
        return Err(image_file.truncated(
            16 + pixels.len() as u64,
            what(),
            thousands(pixels.len() as u64),
        ));
    }
    if !image_file.at_end()? {
        return Err(image_file.corrupt(
            16 + pixel_count,
            format!("the end of the data after {}", what()),
            "more bytes".into(),
        ));
    }
    let mut label_file = open(labels)?;
    let labels_vec = read_labels(&mut label_file, count, images)?;
    let features: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    tracing::info!(images = %images.display(), count, rows, cols, "loaded IDX");
    Dataset::new(name, [1, rows, cols], features, labels_vec, IDX_CLASSES).map_err(|source| {
        LoadError::Dataset {
            context: images.display().to_string(),
            source,
        }
    })
}

/// Reads and checks the 16-byte header of an image file; returns (count, rows, columns), whose
/// product has been checked against the file length (plain files) and [`MAX_DATASET_VALUES`].
fn read_image_header(file: &mut DataFile) -> Result<(usize, usize, usize), LoadError> {
    let header = file.read_up_to(16)?;
    let len = header.len();
    if len < 16 {
        return Err(file.truncated(
            len as u64,
            "a 16-byte IDX header (magic 0x00000803, image count, rows, columns)".into(),
            format!("{len} bytes"),
        ));
    }
    let magic = be_u32(&header, 0);
    if magic != IDX_IMAGES_MAGIC {
        let hint = if magic == IDX_LABELS_MAGIC {
            " (a label file, not an image file)"
        } else {
            ""
        };
        return Err(file.corrupt(
            0,
            "the IDX image magic number 0x00000803 (unsigned bytes, 3 dimensions)".into(),
            format!("0x{magic:08x}{hint}"),
        ));
    }
    let count = u128::from(be_u32(&header, 4));
    let rows = u128::from(be_u32(&header, 8));
    let cols = u128::from(be_u32(&header, 12));
    if count == 0 {
        return Err(file.corrupt(4, "an image count of at least 1".into(), "0".into()));
    }
    if rows == 0 {
        return Err(file.corrupt(8, "a row count of at least 1".into(), "0".into()));
    }
    if cols == 0 {
        return Err(file.corrupt(12, "a column count of at least 1".into(), "0".into()));
    }
    // exact: u32 · u32 · u32 < 2^96
    let expected = count * rows * cols;
    let what = || {
        format!(
            "{} pixel bytes for {} images of {rows}×{cols} after the 16-byte header",
            thousands(expected),
            thousands(count)
        )
    };
    if let Some(len) = file.known_len() {
        let body = u128::from(len.saturating_sub(16));
        if body < expected {
            return Err(file.truncated(len, what(), thousands(body)));
        }
        if body > expected {
            return Err(file.corrupt(
                16 + expected as u64,
                format!("the end of the file after {}", what()),
                format!("{} more bytes", thousands(body - expected)),
            ));
        }
    }
    if expected > u128::from(MAX_DATASET_VALUES) {
        return Err(file.too_large(
            4,
            format!(
                "the header announces {} images of {rows}×{cols}, one value per pixel",
                thousands(count)
            ),
            expected,
            u128::from(MAX_DATASET_VALUES),
            "values",
            "MAX_DATASET_VALUES",
        ));
    }
    // below 2^30: fits in usize on every supported target
    Ok((count as usize, rows as usize, cols as usize))
}

/// Reads and checks a label file against `count` images and returns the labels.
fn read_labels(file: &mut DataFile, count: usize, images: &Path) -> Result<Vec<u32>, LoadError> {
    let header = file.read_up_to(8)?;
    let len = header.len();
    if len < 8 {
        return Err(file.truncated(
            len as u64,
            "an 8-byte IDX header (magic 0x00000801, label count)".into(),
            format!("{len} bytes"),
        ));
    }
    let magic = be_u32(&header, 0);
    if magic != IDX_LABELS_MAGIC {
        let hint = if magic == IDX_IMAGES_MAGIC {
            " (an image file, not a label file)"
        } else {
            ""
        };
        return Err(file.corrupt(
            0,
            "the IDX label magic number 0x00000801 (unsigned bytes, 1 dimension)".into(),
            format!("0x{magic:08x}{hint}"),
        ));
    }
    let labels = be_u32(&header, 4) as usize;
    if labels != count {
        return Err(file.corrupt(
            4,
            format!(
                "a label count of {} to match the images in {}",
                thousands(count as u64),
                images.display()
            ),
            thousands(labels as u64),
        ));
    }
    let expected = || {
        format!(
            "{} label bytes after the 8-byte header",
            thousands(count as u64)
        )
    };
    if let Some(len) = file.known_len() {
        let body = len.saturating_sub(8);
        if body < count as u64 {
            return Err(file.truncated(len, expected(), thousands(body)));
        }
        if body > count as u64 {
            return Err(file.corrupt(
                8 + count as u64,
                format!(
                    "the end of the file after {} label bytes",
                    thousands(count as u64)
                ),
                format!("{} more bytes", thousands(body - count as u64)),
            ));
        }
    }
    let body = file.read_up_to(count as u64)?;
    if body.len() < count {
        return Err(file.truncated(
            8 + body.len() as u64,
            expected(),
            thousands(body.len() as u64),
        ));
    }
    if !file.at_end()? {
        return Err(file.corrupt(
            8 + count as u64,
            format!(
                "the end of the data after {} label bytes",
                thousands(count as u64)
            ),
            "more bytes".into(),
        ));
    }
    if let Some(i) = body.iter().position(|&l| usize::from(l) >= IDX_CLASSES) {
        return Err(file.corrupt(
            8 + i as u64,
            format!("a label 0–9 (label of image {i})"),
            body[i].to_string(),
        ));
    }
    Ok(body.iter().map(|&l| u32::from(l)).collect())
}

/// The big-endian `u32` at `offset` of `bytes` (the caller checked the length).
fn be_u32(bytes: &[u8], offset: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_be_bytes(b)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// An IDX image file of `count` images of `rows`×`cols` with pixel `(i + k) % 256`.
    pub fn idx_images(count: u32, rows: u32, cols: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&IDX_IMAGES_MAGIC.to_be_bytes());
        for v in [count, rows, cols] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        let per = (rows * cols) as usize;
        for i in 0..count as usize {
            b.extend((0..per).map(|k| ((i + k) % 256) as u8));
        }
        b
    }

    pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&IDX_LABELS_MAGIC.to_be_bytes());
        b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        b.extend_from_slice(labels);
        b
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    const LABELS: [u8; 6] = [0, 1, 2, 7, 9, 5];

    fn write_split(dir: &Path, images: &[u8], labels: &[u8], gz: bool) {
        let (i, l) = idx_file_names(Split::Train);
        if gz {
            std::fs::write(dir.join(format!("{i}.gz")), gzip(images)).unwrap();
            std::fs::write(dir.join(format!("{l}.gz")), gzip(labels)).unwrap();
        } else {
            std::fs::write(dir.join(i), images).unwrap();
            std::fs::write(dir.join(l), labels).unwrap();
        }
    }

    fn load_err(images: &[u8], labels: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), images, labels, false);
        load_idx_dir(dir.path(), Split::Train, "mnist")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reads_plain_and_gzip_files() {
        for gz in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            write_split(dir.path(), &idx_images(6, 3, 4), &idx_labels(&LABELS), gz);
            let ds = load_idx_dir(dir.path(), Split::Train, "mnist").unwrap();
            assert_eq!(ds.len(), 6);
            assert_eq!(ds.shape(), [1, 3, 4]);
            assert_eq!(ds.classes(), 10);
            assert_eq!(ds.labels(), &[0, 1, 2, 7, 9, 5]);
            // image 2, pixel 5 = (2 + 5) / 255
            assert_eq!(ds.sample(2)[5], 7.0 / 255.0);
            // default groups: classes 5..9 are the minority → labels 7, 9, 5
            assert_eq!(ds.group_sizes().minority, 3);
        }
    }

    #[test]
    fn test_split_uses_t10k_names() {
        let dir = tempfile::tempdir().unwrap();
        let (i, l) = idx_file_names(Split::Test);
        std::fs::write(dir.path().join(i), idx_images(2, 2, 2)).unwrap();
        std::fs::write(dir.path().join(l), idx_labels(&[3, 4])).unwrap();
        assert_eq!(
            load_idx_dir(dir.path(), Split::Test, "mnist")
                .unwrap()
                .labels(),
            &[3, 4]
        );
        let err = load_idx_dir(dir.path(), Split::Train, "mnist")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train-images-idx3-ubyte") && err.contains("train-images-idx3-ubyte.gz"),
            "{err}"
        );
    }

    #[test]
    fn missing_folder_names_the_path() {
        let err = load_idx_dir(Path::new("/no/such/dir"), Split::Train, "mnist").unwrap_err();
        assert!(matches!(err, LoadError::NotFound { .. }));
        let msg = err.to_string();
        assert!(msg.starts_with("/no/such/dir: no such folder"), "{msg}");
    }

    #[test]
    fn bad_magic_is_reported_at_byte_zero() {
        let mut images = idx_images(6, 3, 4);
        images[3] = 0x01;
        let msg = load_err(&images, &idx_labels(&LABELS));
        assert!(msg.contains("train-images-idx3-ubyte: at byte 0: expected the IDX image magic number 0x00000803"), "{msg}");
        assert!(msg.contains("found 0x00000801 (a label file"), "{msg}");
        let mut labels = idx_labels(&LABELS);
        labels[2] = 0x09;
        let msg = load_err(&idx_images(6, 3, 4), &labels);
        assert!(
            msg.contains("train-labels-idx1-ubyte: at byte 0") && msg.contains("0x00000901"),
            "{msg}"
        );
    }

    #[test]
    fn truncated_header_and_body_name_the_offset() {
        let images = idx_images(6, 3, 4);
        let msg = load_err(&images[..10], &idx_labels(&LABELS));
        assert!(
            msg.contains("truncated at byte 10: expected a 16-byte IDX header"),
            "{msg}"
        );
        let msg = load_err(&images[..16 + 50], &idx_labels(&LABELS));
        assert!(
            msg.ends_with(
                "train-images-idx3-ubyte: truncated at byte 66: expected 72 pixel bytes for 6 images of 3×4 \
                 after the 16-byte header, found 50"
            ),
            "{msg}"
        );
        let labels = idx_labels(&LABELS);
        let msg = load_err(&images, &labels[..11]);
        assert!(
            msg.contains("train-labels-idx1-ubyte: truncated at byte 11: expected 6 label bytes"),
            "{msg}"
        );
        let mut long = images.clone();
        long.push(0);
        let msg = load_err(&long, &labels);
        assert!(
            msg.contains("at byte 88: expected the end of the file")
                && msg.contains("found 1 more bytes"),
            "{msg}"
        );
    }

    #[test]
    fn huge_header_counts_do_not_allocate_or_panic() {
        let mut images = idx_images(1, 1, 1);
        images[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        images[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        images[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
        let msg = load_err(&images, &idx_labels(&[0]));
        assert!(msg.contains("truncated at byte 17"), "{msg}");
        let mut zero = idx_images(1, 1, 1);
        zero[8..12].copy_from_slice(&0u32.to_be_bytes());
        assert!(load_err(&zero, &idx_labels(&[0]))
            .contains("at byte 8: expected a row count of at least 1"));
    }

    #[test]
    fn header_sizes_are_checked_against_the_limit_before_reading() {
        // a plain file that really is that long (sparse: no disk used): refused from its header
        let dir = tempfile::tempdir().unwrap();
        let (i, l) = idx_file_names(Split::Train);
        let mut header = idx_images(1, 1, 1);
        header.truncate(16);
        header[8..12].copy_from_slice(&32_769u32.to_be_bytes());
        header[12..16].copy_from_slice(&32_769u32.to_be_bytes());
        let file = std::fs::File::create(dir.path().join(i)).unwrap();
        use std::io::Write as _;
        (&file).write_all(&header).unwrap();
        file.set_len(16 + 32_769 * 32_769).unwrap();
        std::fs::write(dir.path().join(l), idx_labels(&[0])).unwrap();
        let e = load_idx_dir(dir.path(), Split::Train, "mnist").unwrap_err();
        assert!(
            matches!(&e, LoadError::FileTooLarge { offset: 4, decompressed: false, size, .. } if size.needed == 1_073_807_361 && size.limit == 1_073_741_824),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("train-images-idx3-ubyte: at byte 4: the header announces 1 images of 32769×32769")
                && e.to_string().contains("1,073,807,361 values, above the limit of 1,073,741,824 values (MAX_DATASET_VALUES)"),
            "{e}"
        );
        // gzip: the header alone decides, nothing past it is decompressed
        let dir = tempfile::tempdir().unwrap();
        let mut header = idx_images(1, 1, 1);
        header[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        header[8..12].copy_from_slice(&28u32.to_be_bytes());
        header[12..16].copy_from_slice(&28u32.to_be_bytes());
        std::fs::write(dir.path().join(format!("{i}.gz")), gzip(&header)).unwrap();
        std::fs::write(dir.path().join(l), idx_labels(&[0])).unwrap();
        let e = load_idx_dir(dir.path(), Split::Train, "mnist").unwrap_err();
        assert!(
            matches!(&e, LoadError::FileTooLarge { offset: 4, decompressed: true, size, .. } if size.needed == 3_367_254_359_280),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("at byte 4 of the decompressed data"),
            "{e}"
        );
    }

    #[test]
    fn gzip_is_decompressed_only_as_far_as_the_header_says() {
        // 2 images of 2×2 announced, then 64 MiB of zeros (a small gzip bomb)
        let dir = tempfile::tempdir().unwrap();
        let (i, l) = idx_file_names(Split::Train);
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&idx_images(2, 2, 2)).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            e.write_all(&zeros).unwrap();
        }
        std::fs::write(dir.path().join(format!("{i}.gz")), e.finish().unwrap()).unwrap();
        std::fs::write(dir.path().join(l), idx_labels(&[0, 1])).unwrap();
        let err = load_idx_dir(dir.path(), Split::Train, "mnist").unwrap_err();
        assert!(
            matches!(
                err,
                LoadError::Corrupt {
                    offset: 24,
                    decompressed: true,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().ends_with("found more bytes"), "{err}");
        // the label file likewise
        std::fs::write(
            dir.path().join(format!("{i}.gz")),
            gzip(&idx_images(2, 2, 2)),
        )
        .unwrap();
        let mut labels = idx_labels(&[0, 1]);
        labels.extend_from_slice(&[0; 100]);
        std::fs::remove_file(dir.path().join(l)).unwrap();
        std::fs::write(dir.path().join(format!("{l}.gz")), gzip(&labels)).unwrap();
        let err = load_idx_dir(dir.path(), Split::Train, "mnist").unwrap_err();
        assert!(
            matches!(
                err,
                LoadError::Corrupt {
                    offset: 10,
                    decompressed: true,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn label_count_mismatch_and_range() {
        let msg = load_err(&idx_images(6, 3, 4), &idx_labels(&LABELS[..5]));
        assert!(msg.contains("train-labels-idx1-ubyte: at byte 4: expected a label count of 6 to match the images in"), "{msg}");
        assert!(msg.ends_with("found 5"), "{msg}");
        let msg = load_err(&idx_images(6, 3, 4), &idx_labels(&[0, 1, 2, 10, 4, 5]));
        assert!(
            msg.contains("at byte 11: expected a label 0–9 (label of image 3), found 10"),
            "{msg}"
        );
    }

    #[test]
    fn gzip_garbage_and_truncated_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let (i, l) = idx_file_names(Split::Train);
        std::fs::write(dir.path().join(l), idx_labels(&LABELS)).unwrap();
        // named .gz but not gzip
        std::fs::write(dir.path().join(format!("{i}.gz")), b"hello world").unwrap();
        let msg = load_idx_dir(dir.path(), Split::Train, "mnist")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(
                "train-images-idx3-ubyte.gz: at byte 0: expected the gzip magic bytes 1f 8b"
            ),
            "{msg}"
        );
        assert!(msg.ends_with("found 68 65"), "{msg}");
        // gzip magic followed by garbage
        let mut garbage = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        garbage.extend_from_slice(&[0xff; 40]);
        std::fs::write(dir.path().join(format!("{i}.gz")), &garbage).unwrap();
        let err = load_idx_dir(dir.path(), Split::Train, "mnist").unwrap_err();
        assert!(matches!(err, LoadError::Gzip { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("train-images-idx3-ubyte.gz: not a valid gzip stream"),
            "{err}"
        );
        // a gzip stream cut short
        let gz = gzip(&idx_images(6, 3, 4));
        std::fs::write(dir.path().join(format!("{i}.gz")), &gz[..gz.len() / 2]).unwrap();
        let err = load_idx_dir(dir.path(), Split::Train, "mnist").unwrap_err();
        assert!(
            matches!(err, LoadError::Gzip { .. } | LoadError::Truncated { .. }),
            "{err}"
        );
        // a valid gzip of a truncated file reports the decompressed offset
        let images = idx_images(6, 3, 4);
        std::fs::write(dir.path().join(format!("{i}.gz")), gzip(&images[..20])).unwrap();
        let msg = load_idx_dir(dir.path(), Split::Train, "mnist")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("truncated at byte 20 of the decompressed data"),
            "{msg}"
        );
    }
}
