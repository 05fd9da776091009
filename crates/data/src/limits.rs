//! Limits on sizes that come from input (docs/reliability.md: "sizes that come from input are checked before
//! allocation"). Every loader and transform compares what a header, a spec option or a label would
//! make it allocate with these constants *before* allocating, and refuses with an error that names
//! the input, the size needed and the limit.

/// The largest number of feature values (`f32`) one data set may hold: 2³⁰ = 1,073,741,824
/// values, i.e. 4 GiB.
///
/// Why this value: CIFAR-10's training set holds 153,600,000 values (614 MB) and Fashion-MNIST
/// resized to 32×32×3 holds 184,320,000, so every data set and transform of docs/data.md fits with room
/// to spare (CIFAR-10 can still be resized to 83×83); a spec that asks for more — `resize=100000`,
/// `gaussian:d=100000000,n=100000000`, an IDX header announcing 4 × 10⁹ images — is a typo or a
/// hostile file, and would otherwise abort the process with "memory allocation failed" (or, under
/// overcommit, be killed later). The check uses exact 128-bit products, so no header can overflow
/// it.
pub const MAX_DATASET_VALUES: u64 = 1 << 30;

/// The largest class count: 65,536 (labels 0 to 65,535).
///
/// Why this value: the largest classification benchmarks in use have fewer classes (ImageNet-21k
/// has 21,841), while per-class counts, the default group rule (the upper half of the classes) and
/// a model's output layer all allocate in proportion to the class count. A label such as
/// 4,000,000,000 or 1,000,000 in a CSV file is almost always the wrong column (an identifier or a
/// regression target); before this limit it silently made a million classes, or ran for half a
/// minute and aborted.
pub const MAX_CLASSES: usize = 65_536;

/// The largest CSV file the CSV loader reads: 1 GiB (1,073,741,824 bytes).
///
/// Why this value: the training sets of docs/data.md written as CSV stay well below it (MNIST's is
/// about 110 MB, CIFAR-10's about 550 MB at three to four bytes per pixel), while the loader holds
/// the text, each line's fields (the text again plus 4 bytes per field) and the features (4 bytes
/// per value, at most twice the text), about six times the file at worst; 1 GiB keeps that within
/// the memory of a workstation. The length is checked before the file is read, and the read stops
/// one byte past the limit whatever the length the system reported.
pub const MAX_CSV_BYTES: u64 = 1 << 30;
