//! Who owns an output folder: a sweep folder is described by `sweep.json` (the command that made
//! it, the settings its runs share, the plan and the table options), created once, exclusively,
//! and never rewritten; a `train` folder by its `run.json`. A command refuses a folder that holds
//! another command's output or a sweep of other settings, before it writes anything.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diff::json_diff;
use crate::error::SweepError;
use crate::fsutil::{create_new, ensure_dir};
use crate::plan::SweepPlan;

/// The format of `sweep.json` written by this version.
pub const SWEEP_FILE_FORMAT: u32 = 2;

/// `DIR/sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepDescription {
    /// [`SWEEP_FILE_FORMAT`].
    pub format: u32,
    /// The command that made the folder (`overcost` or `reproduce`).
    pub command: String,
    /// [`SweepPlan::settings`]: what every process sharing the folder must agree on.
    pub settings: serde_json::Value,
    /// The plan of the process that made the folder.
    pub plan: SweepPlan,
    /// How the table is made (κ list, criterion), for `sweep merge`.
    pub table: serde_json::Value,
}

/// The description file of a sweep folder.
pub fn sweep_file(dir: &Path) -> PathBuf {
    dir.join("sweep.json")
}

fn owned(dir: &Path, message: String) -> SweepError {
    SweepError::FolderOwned {
        dir: dir.to_path_buf(),
        message,
    }
}

fn manifest_command(dir: &Path) -> Option<String> {
    let bytes = std::fs::read(dir.join("manifest.json")).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("command")?.as_str().map(str::to_string)
}

/// Checks that `dir` may hold a sweep of `command` with `plan` (it is new, or holds the same
/// command's sweep of the same settings) and creates `sweep.json` when it does not exist yet.
/// Returns whether this process created the folder's description (false: it joins a sweep).
pub fn open_sweep_folder(
    dir: &Path,
    command: &str,
    plan: &SweepPlan,
    table: serde_json::Value,
) -> Result<bool, SweepError> {
    if dir.exists() && !dir.is_dir() {
        return Err(owned(
            dir,
            "is a regular file; expected a folder for the sweep's output (--out)".into(),
        ));
    }
    if dir.join("run.json").exists() {
        return Err(owned(
            dir,
            "holds a `majmin train` run (run.json); a sweep needs a folder of its own: choose another --out".into(),
        ));
    }
    if let Some(other) = manifest_command(dir).filter(|c| c != command) {
        return Err(owned(
            dir,
            format!("holds the output of `majmin {other}` (manifest.json); `majmin {command}` does not mix with it: choose another --out"),
        ));
    }
    let path = sweep_file(dir);
    if !path.exists() && dir.join("runs").is_dir() {
        tracing::warn!(
            "{} holds run files but no sweep.json; each run file is verified against the plan",
            dir.display()
        );
    }
    let description = SweepDescription {
        format: SWEEP_FILE_FORMAT,
        command: command.to_string(),
        settings: plan.settings(),
        plan: plan.clone(),
        table,
    };
    if !path.exists() {
        ensure_dir(dir)?;
        let mut bytes = serde_json::to_vec_pretty(&description).unwrap_or_default();
        bytes.push(b'\n');
        if create_new(&path, &bytes)? {
            return Ok(true);
        }
    }
    let found = read_sweep(dir)?;
    if found.command != command {
        return Err(owned(
            dir,
            format!(
                "holds a sweep of `majmin {}`; `majmin {command}` does not mix with it: choose another --out",
                found.command
            ),
        ));
    }
    let differences = json_diff(&description.settings, &found.settings);
    if let Some(d) = differences.iter().find(|d| d.key == "holdout") {
        let on_disk = if d.found == "(absent)" {
            "were trained on all the data, without a held-out split (a sweep made before --holdout existed, or with --holdout 0)".to_string()
        } else {
            format!("hold out {} of each group", d.found)
        };
        let now = if d.expected == "(absent)" {
            "no held-out split".to_string()
        } else {
            format!("{} of each group", d.expected)
        };
        return Err(SweepError::Plan {
            option: "--holdout",
            message: format!(
                "the runs in {} {on_disk}, and this command holds out {now}; a held-out split changes the training set, so the runs do not mix. Pass --holdout {} to continue or merge that sweep (its ERM runs keep their names and curves), or choose another --out",
                dir.display(),
                if d.found == "(absent)" { "0" } else { d.found.as_str() }
            ),
        });
    }
    if !differences.is_empty() {
        return Err(SweepError::SettingsDiffer {
            file: path,
            differences,
        });
    }
    Ok(false)
}

/// Reads `DIR/sweep.json`.
pub fn read_sweep(dir: &Path) -> Result<SweepDescription, SweepError> {
    if dir.exists() && !dir.is_dir() {
        return Err(owned(
            dir,
            "is not a folder; expected the --out of `majmin overcost` or `majmin reproduce`".into(),
        ));
    }
    let path = sweep_file(dir);
    let bytes = std::fs::read(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            owned(
                dir,
                "is not a sweep folder (no sweep.json); expected the --out of `majmin overcost` or `majmin reproduce`".into(),
            )
        } else {
            SweepError::io("read", &path, e)
        }
    })?;
    let description: SweepDescription =
        serde_json::from_slice(&bytes).map_err(|e| SweepError::RunDamaged {
            file: path.clone(),
            message: format!("not a majmin sweep description ({e})"),
        })?;
    if description.format != SWEEP_FILE_FORMAT {
        return Err(SweepError::RunDamaged {
            file: path,
            message: format!(
                "sweep-file format {} (this majmin reads format {SWEEP_FILE_FORMAT})",
                description.format
            ),
        });
    }
    Ok(description)
}

/// Checks that `dir` may receive a `train` run: new, empty of majmin output, or `force`.
pub fn check_train_folder(dir: &Path, force: bool) -> Result<(), SweepError> {
    if dir.exists() && !dir.is_dir() {
        return Err(owned(
            dir,
            "is a regular file; expected a folder for the run's output (--out)".into(),
        ));
    }
    if force {
        return Ok(());
    }
    for marker in ["run.json", "manifest.json", "sweep.json", "runs"] {
        if dir.join(marker).exists() {
            let what = match manifest_command(dir) {
                Some(c) => format!("the output of `majmin {c}`"),
                None => format!("majmin output ({marker})"),
            };
            return Err(owned(
                dir,
                format!("already holds {what}; choose another --out, or pass --force to overwrite a train run's files"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use majmin_flow::train::TrainConfig;

    fn plan() -> SweepPlan {
        SweepPlan {
            archs: vec![crate::plan::ArchChoice::new("mlp", 1.0)],
            data: "digits".into(),
            minority_classes: None,
            zetas: vec![0.1],
            seeds: 1,
            seed: 0,
            train: TrainConfig::default(),
            methods: vec![majmin_flow::train::Method::ERM],
            holdout: 0.0,
        }
    }

    #[test]
    fn same_settings_join_other_settings_are_refused_with_keys() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("sweep");
        assert!(open_sweep_folder(&d, "overcost", &plan(), serde_json::json!({})).unwrap());
        let mut more = plan();
        more.zetas.push(0.3); // lists may grow
        assert!(!open_sweep_folder(&d, "overcost", &more, serde_json::json!({})).unwrap());
        let mut other = plan();
        other.train.lr = 0.2;
        let e = open_sweep_folder(&d, "overcost", &other, serde_json::json!({})).unwrap_err();
        assert!(
            e.to_string().contains("`train.lr`: 0.2 now, 0.05 on disk"),
            "{e}"
        );
        let e = open_sweep_folder(&d, "reproduce", &plan(), serde_json::json!({})).unwrap_err();
        assert!(e.to_string().contains("majmin overcost"), "{e}");
    }

    #[test]
    fn a_folder_without_held_out_split_is_refused_with_the_way_to_continue_it() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("sweep");
        // made with holdout 0: its settings are those of a folder made before --holdout existed
        assert!(open_sweep_folder(&d, "overcost", &plan(), serde_json::json!({})).unwrap());
        let text = std::fs::read_to_string(sweep_file(&d)).unwrap();
        assert!(!text.contains("\"holdout\": 0.2"));
        let mut held = plan();
        held.holdout = 0.2;
        let e = open_sweep_folder(&d, "overcost", &held, serde_json::json!({})).unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("--holdout"), "{m}");
        assert!(
            m.contains("without a held-out split") && m.contains("--holdout 0"),
            "{m}"
        );
        assert!(e.is_input_error());
        // and the other way round
        let d2 = dir.path().join("held");
        assert!(open_sweep_folder(&d2, "overcost", &held, serde_json::json!({})).unwrap());
        let e = open_sweep_folder(&d2, "overcost", &plan(), serde_json::json!({})).unwrap_err();
        assert!(e.to_string().contains("--holdout 0.2"), "{e}");
        // more methods join the same folder
        let mut more = held.clone();
        more.methods.push("reweight".parse().unwrap());
        assert!(!open_sweep_folder(&d2, "overcost", &more, serde_json::json!({})).unwrap());
    }

    #[test]
    fn train_and_sweep_folders_do_not_mix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("run.json"), "{}").unwrap();
        std::fs::write(dir.path().join("manifest.json"), r#"{"command":"train"}"#).unwrap();
        let e = open_sweep_folder(dir.path(), "overcost", &plan(), serde_json::json!({}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("majmin train"), "{e}");
        let e = check_train_folder(dir.path(), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--force"), "{e}");
        check_train_folder(dir.path(), true).unwrap();
        let fresh = dir.path().join("new");
        check_train_folder(&fresh, false).unwrap();
    }
}
