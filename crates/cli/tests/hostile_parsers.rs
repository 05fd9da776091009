//! Property tests: the plugin manifest parser takes any text (arbitrary, manifest-like, or bytes
//! read lossily) without panicking, and refuses bad text with an error naming the manifest.
//! (The `--config` parser has the same property test beside it, in `src/config.rs`.)

use std::path::Path;

use majmin_models::plugin_loader::{Manifest, PluginError};
use proptest::prelude::*;

/// Manifest-like text: `[[plugin]]` tables with real and hostile keys and values.
fn manifest_like() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(vec!["name", "path", "sha256", "version", "plugin"])
            .prop_map(str::to_string),
        "[a-z_]{1,8}",
    ];
    let value = prop_oneof![
        "\\PC{0,70}".prop_map(|s| format!("{s:?}")),
        "[0-9a-fA-F]{64}".prop_map(|s| format!("{s:?}")),
        any::<i64>().prop_map(|i| i.to_string()),
        Just("[1, [2]]".to_string()),
        Just("{ a = 1 }".to_string()),
        Just("\"../../../../etc/passwd\"".to_string()),
        Just("\"/dev/zero\"".to_string()),
        Just("\"\"".to_string()),
    ];
    let line = prop_oneof![
        (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        prop::sample::select(vec!["[[plugin]]", "[plugin]", "[[plugin.x]]", "[", "]]"])
            .prop_map(str::to_string),
        "\\PC{0,20}",
    ];
    prop::collection::vec(line, 0..12).prop_map(|l| l.join("\n"))
}

fn check(text: &str) -> Result<(), TestCaseError> {
    match Manifest::parse(text, Path::new("dir/plugins.toml")) {
        Ok(manifest) => {
            for entry in &manifest.plugins {
                prop_assert!(!entry.name.is_empty());
                prop_assert_eq!(entry.sha256.len(), 64);
                // relative paths are resolved against the manifest's folder
                prop_assert!(entry.path.is_absolute() || entry.path.starts_with("dir"));
            }
        }
        Err(e) => {
            prop_assert!(matches!(e, PluginError::Manifest { .. }), "{e}");
            prop_assert!(e.to_string().contains("dir/plugins.toml"), "{e}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
            cases: 512,
            failure_persistence: None,
            // the same cases on every run, so CI is reproducible
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x6d61_6a6d_696e),
            ..ProptestConfig::default()
        })]

    #[test]
    fn manifest_parse_never_panics_on_text(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn manifest_parse_never_panics_on_manifest_like_text(text in manifest_like()) {
        check(&text)?;
    }

    #[test]
    fn manifest_parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }
}
