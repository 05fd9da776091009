//! Fashion-MNIST from Debian's package `dataset-fashion-mnist` (which `.ci/run` installs): the
//! `fashion-mnist` spec without a path finds it. Without the files, the error says how to get them.

use std::path::Path;

use majmin_data::spec::DEBIAN_FASHION_MNIST_DIR;

fn installed() -> bool {
    Path::new(DEBIAN_FASHION_MNIST_DIR)
        .join("train-images-idx3-ubyte.gz")
        .is_file()
}

#[test]
fn the_debian_package_is_found_without_a_path() {
    if std::env::var_os("MAJMIN_DATA").is_some() {
        return; // a user's own copy takes precedence; this test is about the package
    }
    match majmin_data::load("fashion-mnist") {
        Ok(data) => {
            assert!(installed());
            assert_eq!(data.len(), 60_000);
            assert_eq!(data.classes(), 10);
            assert_eq!(data.shape(), [1, 28, 28]);
            // the default groups: classes 5–9 (sandal, shirt, sneaker, bag, ankle boot) minority
            let sizes = data.group_sizes();
            assert_eq!((sizes.majority, sizes.minority), (30_000, 30_000));
            let test = majmin_data::load("fashion-mnist,split=test").unwrap();
            assert_eq!(test.len(), 10_000);
        }
        Err(e) => {
            assert!(!installed(), "{e}");
            let m = e.to_string();
            assert!(
                m.contains("apt-get install dataset-fashion-mnist")
                    && m.contains("fashion-mnist:DIR"),
                "{m}"
            );
        }
    }
}

#[test]
fn majmin_data_takes_precedence_and_a_wrong_folder_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY of the environment change: this integration-test binary holds one more test, which
    // returns early when MAJMIN_DATA is set and reads nothing else from the environment.
    std::env::set_var("MAJMIN_DATA", dir.path());
    let err = majmin_data::load("fashion-mnist");
    std::env::remove_var("MAJMIN_DATA");
    if installed() {
        // an empty $MAJMIN_DATA/fashion-mnist falls through to the package
        assert_eq!(err.unwrap().len(), 60_000);
    } else {
        let m = err.unwrap_err().to_string();
        assert!(
            m.contains(&dir.path().join("fashion-mnist").display().to_string()),
            "{m}"
        );
    }
}
