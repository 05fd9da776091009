//! `--config FILE.toml`: any command-line option, written in a file.
//!
//! Top-level keys are options (`seed = 3`, `epochs = 20`, `zetas = [0.01, 0.1]`); a table named
//! after a command applies to that command only (`[train]`, `[metrics.overcost]`) and wins over a
//! top-level key. A key is the option's long name, with `-` or `_`. The command line wins over
//! the file (and `MAJMIN_PLUGINS` over the file's `plugins`), the file over the defaults; a list
//! on the command line replaces the file's list. Any option may come from the file, required
//! ones included.
//!
//! Every value is checked by the option's own parser when the file is read, so an error names
//! the file, the line, the key, the value and what the option expects. A key that is no option
//! of any command, or a table key that is no option of its command, is an error naming the file,
//! the line and the options that exist. The file is at most [`CONFIG_MAX_BYTES`].

use std::path::Path;

use clap::builder::ValueParser;
use clap::{Arg, ArgAction, Command};

use crate::error::CliError;

/// The largest configuration file read (1 MiB): far more than any set of options needs.
pub const CONFIG_MAX_BYTES: u64 = 1 << 20;

/// Reads the `--config` file: a regular file of at most [`CONFIG_MAX_BYTES`] of UTF-8 text.
pub fn read_config_file(file: &Path) -> Result<String, CliError> {
    crate::input::read_text("--config", file, "a TOML file", CONFIG_MAX_BYTES)
}

/// One option set by the file, for the running command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOption {
    /// The clap id of the option (to ask whether the command line gives it).
    pub id: String,
    /// The arguments that give it (`--epochs=5`; a flag is `--zone`; nothing for `false`).
    pub args: Vec<String>,
    /// How deep the table that set it is (0: top level, 1: `[train]`, 2: `[metrics.overcost]`).
    depth: usize,
}

/// The options that the file sets for the command at `path` (e.g. `["train"]`), each checked by
/// the option's parser; the caller keeps those the command line does not give. When an option
/// is set both at the top level and in a command's table, the table's value is kept.
pub fn config_args(
    file: &Path,
    text: &str,
    root: &Command,
    path: &[String],
) -> Result<Vec<FileOption>, CliError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .map(|s| 1 + text[..s.start.min(text.len())].matches('\n').count());
        CliError::usage(format!(
            "{}{}: not valid TOML: {}",
            file.display(),
            line.map(|l| format!(":{l}")).unwrap_or_default(),
            e.message().trim().replace('\n', "; ")
        ))
    })?;
    let target = find_command(root, path);
    let all_options = all_long_options(root);
    let mut found = Vec::new();
    for (key, value) in &table {
        if let toml::Value::Table(sub) = value {
            if root.find_subcommand(key).is_some() {
                // a command's own table: [train] or [metrics] with [metrics.overcost] inside
                let mut scope = vec![key.clone()];
                collect_table(file, text, root, &mut scope, sub, path, &mut found)?;
                continue;
            }
            return Err(unknown_key(
                file,
                text,
                &[],
                key,
                "a command name for a table",
                &all_options,
            ));
        }
        let flag = key.replace('_', "-");
        if ["config", "help", "version"].contains(&flag.as_str()) {
            return Err(CliError::usage(format!(
                "{}:{}: `{key}` cannot be set in a configuration file; give --{flag} on the command line",
                file.display(),
                line_of(text, &[], key)
            )));
        }
        if !all_options.contains(&flag) {
            return Err(unknown_key(
                file,
                text,
                &[],
                key,
                "an option of some command",
                &all_options,
            ));
        }
        if let Some(arg) = find_long(target, &flag) {
            let option = file_option(file, text, &[], key, arg, value, 0)?;
            keep(&mut found, option);
        }
    }
    Ok(found)
}

/// Adds `option`, replacing a value of the same option from a shallower table.
fn keep(found: &mut Vec<FileOption>, option: FileOption) {
    match found.iter_mut().find(|o| o.id == option.id) {
        Some(old) if old.depth <= option.depth => *old = option,
        Some(_) => {}
        None => found.push(option),
    }
}

fn collect_table(
    file: &Path,
    text: &str,
    root: &Command,
    scope: &mut Vec<String>,
    table: &toml::Table,
    path: &[String],
    found: &mut Vec<FileOption>,
) -> Result<(), CliError> {
    let cmd = find_command(root, scope);
    for (key, value) in table {
        if let toml::Value::Table(sub) = value {
            if cmd.find_subcommand(key).is_some() {
                scope.push(key.clone());
                collect_table(file, text, root, scope, sub, path, found)?;
                scope.pop();
                continue;
            }
        }
        let flag = key.replace('_', "-");
        if !has_long(cmd, &flag) {
            let options: Vec<String> = long_options(cmd);
            return Err(unknown_key(
                file,
                text,
                scope,
                key,
                &format!("an option of `majmin {}`", scope.join(" ")),
                &options,
            ));
        }
        if path.starts_with(scope) {
            if let Some(arg) = find_long(find_command(root, path), &flag) {
                let option = file_option(file, text, scope, key, arg, value, scope.len())?;
                keep(found, option);
            }
        }
    }
    Ok(())
}

/// The arguments for `key = value` of option `arg`, checked by the option's own parser.
fn file_option(
    file: &Path,
    text: &str,
    scope: &[String],
    key: &str,
    arg: &Arg,
    value: &toml::Value,
    depth: usize,
) -> Result<FileOption, CliError> {
    let flag = arg.get_long().unwrap_or_default();
    let bad = |reason: &str, expected: &str| {
        let shown = match value {
            toml::Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        let shown = if shown.chars().count() > 80 {
            format!("{}…", shown.chars().take(80).collect::<String>())
        } else {
            shown
        };
        CliError::usage(format!(
            "{}:{}: `{}` = {shown}: {reason}; expected {expected} (the value of --{flag})",
            file.display(),
            line_of(text, scope, key),
            scoped(scope, key)
        ))
    };
    let id = arg.get_id().as_str().to_string();
    let args = match arg.get_action() {
        ArgAction::SetTrue | ArgAction::SetFalse => match value {
            toml::Value::Boolean(b) => {
                let set = *b == matches!(arg.get_action(), ArgAction::SetTrue);
                if set {
                    vec![format!("--{flag}")]
                } else {
                    Vec::new()
                }
            }
            _ => return Err(bad("not a boolean", "true or false")),
        },
        ArgAction::Count => {
            let n = match value {
                toml::Value::Boolean(b) => u8::from(*b),
                toml::Value::Integer(i) => u8::try_from(*i)
                    .map_err(|_| bad("out of range", "a count from 0 to 255, or true/false"))?,
                _ => return Err(bad("not a count", "a count from 0 to 255, or true/false")),
            };
            vec![format!("--{flag}"); usize::from(n)]
        }
        action if action.takes_values() => {
            let joined =
                render_value(arg, value).map_err(|reason| bad(&reason, &expected_value(arg)))?;
            if joined.is_empty() {
                return Err(bad("an empty value", &expected_value(arg)));
            }
            if let Err(e) = check_with_parser(arg, &joined) {
                return Err(bad(&clap_reason(&e), &expected_value(arg)));
            }
            vec![format!("--{flag}={joined}")]
        }
        _ => return Err(bad("not an option a file can set", "another key")),
    };
    Ok(FileOption { id, args, depth })
}

fn scoped(scope: &[String], key: &str) -> String {
    if scope.is_empty() {
        key.to_string()
    } else {
        format!("[{}] {key}", scope.join("."))
    }
}

/// The command-line text of a TOML value: a scalar as written, a list joined by the option's
/// delimiter (`,` when it has none).
fn render_value(arg: &Arg, value: &toml::Value) -> Result<String, String> {
    let scalar = |v: &toml::Value| -> Option<String> {
        match v {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Float(f) => Some(f.to_string()),
            toml::Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        }
    };
    match value {
        toml::Value::Array(items) => {
            if items.is_empty() {
                return Err("an empty list".into());
            }
            let parts: Option<Vec<String>> = items.iter().map(scalar).collect();
            let parts =
                parts.ok_or_else(|| "a list with a list, table or date in it".to_string())?;
            let delimiter = arg.get_value_delimiter().unwrap_or(',').to_string();
            Ok(parts.join(&delimiter))
        }
        other => scalar(other).ok_or_else(|| "a table or a date".to_string()),
    }
}

/// Parses `value` with the option's own parser (alone in a command, as a positional value, so its
/// relations to other options do not matter here; the full parse checks those).
fn check_with_parser(arg: &Arg, value: &str) -> Result<(), clap::Error> {
    let mut alone = Arg::new(arg.get_id().clone())
        .action(arg.get_action().clone())
        .value_parser(arg.get_value_parser().clone())
        .allow_hyphen_values(true);
    if let Some(d) = arg.get_value_delimiter() {
        alone = alone.value_delimiter(d);
    }
    if let Some(n) = arg.get_num_args() {
        alone = alone.num_args(n);
    }
    Command::new("majmin")
        .no_binary_name(true)
        .disable_help_flag(true)
        .arg(alone)
        .try_get_matches_from([value])
        .map(|_| ())
}

/// Why clap refused a value, without its `error:` prefix and usage lines.
fn clap_reason(e: &clap::Error) -> String {
    use std::error::Error as _;
    if let Some(source) = e.source() {
        return source.to_string();
    }
    match e.kind() {
        clap::error::ErrorKind::InvalidValue => "not one of the possible values".into(),
        _ => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            first.strip_prefix("error: ").unwrap_or(first).to_string()
        }
    }
}

/// What an option's value must be, from its parser: "a whole number in 1..=1024", "a number",
/// "one of sgd, adam", with "or a list of them separated by `,`" for a list option.
pub fn expected_value(arg: &Arg) -> String {
    let parser = arg.get_value_parser();
    let possible = arg.get_possible_values();
    let is = |parsers: &[ValueParser]| parsers.iter().any(|p| p.type_id() == parser.type_id());
    let item = if !possible.is_empty() {
        let names: Vec<&str> = possible.iter().map(|p| p.get_name()).collect();
        format!("one of {}", names.join(", "))
    } else if is(&[
        clap::value_parser!(u64).into(),
        clap::value_parser!(u32).into(),
        clap::value_parser!(u16).into(),
        clap::value_parser!(u8).into(),
        clap::value_parser!(usize).into(),
    ]) {
        match range_of(arg) {
            Some(range) => format!("a whole number in {range}"),
            None => "a whole number ≥ 0".into(),
        }
    } else if is(&[
        clap::value_parser!(i64).into(),
        clap::value_parser!(i32).into(),
    ]) {
        "a whole number".into()
    } else if is(&[
        clap::value_parser!(f64).into(),
        clap::value_parser!(f32).into(),
    ]) {
        "a number".into()
    } else if is(&[clap::value_parser!(std::path::PathBuf)]) {
        "a path".into()
    } else {
        match arg.get_value_names().and_then(|n| n.first()) {
            Some(name) => format!("text ({name})"),
            None => "text".into(),
        }
    };
    match arg.get_value_delimiter() {
        Some(d) => format!("{item}, or a list of them separated by `{d}`"),
        None => item,
    }
}

/// The range of a ranged integer option (`1..=1024`), found by asking its parser about 0 and
/// the largest integer.
fn range_of(arg: &Arg) -> Option<String> {
    ["0", "18446744073709551615"].iter().find_map(|probe| {
        let e = check_with_parser(arg, probe).err()?;
        let reason = clap_reason(&e);
        reason
            .split_once(" is not in ")
            .map(|(_, range)| range.trim().to_string())
    })
}

fn unknown_key(
    file: &Path,
    text: &str,
    scope: &[String],
    key: &str,
    expected: &str,
    options: &[String],
) -> CliError {
    let mut options = options.to_vec();
    options.sort();
    options.dedup();
    CliError::usage(format!(
        "{}:{}: unknown key `{}`: expected {expected}; known options: {}",
        file.display(),
        line_of(text, scope, key),
        scoped(scope, key),
        options.join(", ")
    ))
}

/// The 1-based line where `key` of the table `scope` is assigned (`key = …` under `[scope]`, or
/// a dotted `scope.key = …`), or where the table `scope.key` is opened; 1 when not found.
fn line_of(text: &str, scope: &[String], key: &str) -> usize {
    let mut wanted: Vec<&str> = scope.iter().map(String::as_str).collect();
    wanted.push(key);
    let mut header: Vec<String> = Vec::new();
    let unquote = |s: &str| s.trim().trim_matches('"').trim_matches('\'').to_string();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some(inner) = t.strip_prefix('[') {
            let inner = inner.trim_start_matches('[');
            let name = inner.split(']').next().unwrap_or_default();
            header = name.split('.').map(unquote).collect();
            if header.iter().map(String::as_str).eq(wanted.iter().copied()) {
                return i + 1;
            }
            continue;
        }
        let Some((lhs, _)) = t.split_once('=') else {
            continue;
        };
        let full: Vec<String> = header
            .iter()
            .cloned()
            .chain(lhs.split('.').map(unquote))
            .collect();
        if full.iter().map(String::as_str).eq(wanted.iter().copied()) {
            return i + 1;
        }
    }
    1
}

fn find_command<'a>(root: &'a Command, path: &[String]) -> &'a Command {
    let mut cmd = root;
    for name in path {
        match cmd.find_subcommand(name) {
            Some(sub) => cmd = sub,
            None => break,
        }
    }
    cmd
}

fn long_options(cmd: &Command) -> Vec<String> {
    cmd.get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .filter(|l| l != "help" && l != "version" && l != "config")
        .collect()
}

fn find_long<'a>(cmd: &'a Command, flag: &str) -> Option<&'a Arg> {
    if flag == "help" || flag == "version" || flag == "config" {
        return None;
    }
    cmd.get_arguments().find(|a| a.get_long() == Some(flag))
}

fn has_long(cmd: &Command, flag: &str) -> bool {
    find_long(cmd, flag).is_some()
}

fn all_long_options(cmd: &Command) -> Vec<String> {
    let mut out = long_options(cmd);
    for sub in cmd.get_subcommands() {
        out.extend(all_long_options(sub));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn cli() -> Command {
        Command::new("majmin")
            .arg(Arg::new("seed").long("seed").global(true))
            .subcommand(
                Command::new("train")
                    .arg(
                        Arg::new("epochs")
                            .long("epochs")
                            .value_parser(clap::value_parser!(f64)),
                    )
                    .arg(
                        Arg::new("threads")
                            .long("threads")
                            .value_parser(clap::value_parser!(u64).range(1..=1024)),
                    )
                    .arg(
                        Arg::new("archs")
                            .long("archs")
                            .value_delimiter(',')
                            .action(ArgAction::Append),
                    )
                    .arg(Arg::new("zone").long("zone").action(ArgAction::SetTrue)),
            )
            .subcommand(
                Command::new("metrics")
                    .subcommand(Command::new("overcost").arg(Arg::new("kappas").long("kappas"))),
            )
    }

    fn p(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn args_of(text: &str, root: &Command, path: &[&str]) -> Result<Vec<String>, CliError> {
        let found = config_args(Path::new("c.toml"), text, root, &p(path))?;
        Ok(found.into_iter().flat_map(|o| o.args).collect())
    }

    #[test]
    fn keys_become_flags_for_the_running_command() {
        let text = "seed = 3\nepochs = 5\nzone = true\n[metrics.overcost]\nkappas = [0.9, 0.99]\n";
        let root = cli().build_for_config();
        let mut args = args_of(text, &root, &["train"]).unwrap();
        args.sort();
        assert_eq!(args, p(&["--epochs=5", "--seed=3", "--zone"]));
        let mut args = args_of(text, &root, &["metrics", "overcost"]).unwrap();
        args.sort();
        assert_eq!(args, p(&["--kappas=0.9,0.99", "--seed=3"]));
    }

    #[test]
    fn a_command_table_wins_over_a_top_level_key_and_lists_are_one_argument() {
        let root = cli().build_for_config();
        // "zone" sorts after "train": the table must still win, whatever the key order
        let text = "epochs = 1\narchs = [\"a\", \"b\"]\n[train]\nepochs = 7\n";
        let mut args = args_of(text, &root, &["train"]).unwrap();
        args.sort();
        assert_eq!(args, p(&["--archs=a,b", "--epochs=7"]));
        let err = args_of("archs = []\n", &root, &["train"]).unwrap_err();
        assert!(err.message.contains("empty list"), "{}", err.message);
    }

    #[test]
    fn a_bad_value_names_file_line_key_value_and_what_was_expected() {
        let root = cli().build_for_config();
        let err =
            args_of("seed = 1\n\n[train]\nepochs = \"one\"\n", &root, &["train"]).unwrap_err();
        assert_eq!(err.code, 2);
        let m = &err.message;
        assert!(
            m.contains("c.toml:4:")
                && m.contains("[train] epochs")
                && m.contains("\"one\"")
                && m.contains("expected a number")
                && m.contains("--epochs"),
            "{m}"
        );
        let err = args_of("threads = 0\n", &root, &["train"]).unwrap_err();
        assert!(
            err.message.contains("c.toml:1:") && err.message.contains("1..=1024"),
            "{}",
            err.message
        );
        let err = args_of("zone = \"yes\"\n", &root, &["train"]).unwrap_err();
        assert!(err.message.contains("true or false"), "{}", err.message);
        let err = args_of("x = 1\n", &root, &["train"]).unwrap_err();
        assert!(err.message.contains("c.toml:1:") && err.message.contains("`x`"));
        let err = args_of("zone = true\nseed = [[1]]\n", &root, &["train"]).unwrap_err();
        assert!(
            err.message.contains("c.toml:2:") && err.message.contains("`seed`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn lines_follow_tables_and_dotted_keys() {
        let text = "epochs = 1\n[train]\n  epochs = 2\n[metrics.overcost]\nkappas = 3\n";
        assert_eq!(line_of(text, &[], "epochs"), 1);
        assert_eq!(line_of(text, &p(&["train"]), "epochs"), 3);
        assert_eq!(line_of(text, &p(&["metrics", "overcost"]), "kappas"), 5);
        assert_eq!(
            line_of("a = 1\ntrain.epochs = 2\n", &p(&["train"]), "epochs"),
            2
        );
        assert_eq!(line_of("a = 1\n[train]\n", &[], "train"), 2);
    }

    #[test]
    fn unknown_keys_name_file_and_line() {
        let root = cli().build_for_config();
        let err = args_of("seed = 1\nepoch = 5\n", &root, &["train"]).unwrap_err();
        assert_eq!(err.code, 2);
        assert!(
            err.message.contains("c.toml:2") && err.message.contains("`epoch`"),
            "{}",
            err.message
        );
        let err = args_of("[train]\nkappas = 1\n", &root, &["train"]).unwrap_err();
        assert!(err.message.contains("majmin train"), "{}", err.message);
        let err = args_of("seed = 1\nseed = [\n", &root, &["train"]).unwrap_err();
        assert!(
            err.message.contains("not valid TOML")
                && err.message.contains("c.toml:3")
                && !err.message.contains('\n'),
            "{}",
            err.message
        );
    }

    trait BuildForConfig {
        fn build_for_config(self) -> Command;
    }
    impl BuildForConfig for Command {
        fn build_for_config(mut self) -> Command {
            self.build();
            self
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Keys: real options of several commands, command tables, and junk.
        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "seed",
                    "threads",
                    "epochs",
                    "archs",
                    "zetas",
                    "kappas",
                    "grid",
                    "hw",
                    "batch",
                    "init",
                    "t-end",
                    "t_end",
                    "verbose",
                    "json",
                    "plugins",
                    "out",
                    "problem",
                    "method",
                    "criterion",
                    "config",
                    "help",
                    "zone",
                ])
                .prop_map(str::to_string),
                "[a-z_-]{1,12}",
                "\\PC{1,8}".prop_map(|s| format!("{s:?}")),
            ]
        }

        /// TOML values of every kind, including nested and hostile ones.
        fn value() -> impl Strategy<Value = String> {
            let leaf = prop_oneof![
                any::<i64>().prop_map(|i| i.to_string()),
                any::<f64>().prop_map(|f| {
                    if f.is_nan() {
                        "nan".to_string()
                    } else if f.is_infinite() {
                        if f > 0.0 {
                            "inf".into()
                        } else {
                            "-inf".into()
                        }
                    } else {
                        format!("{f:?}")
                    }
                }),
                any::<bool>().prop_map(|b| b.to_string()),
                "\\PC{0,12}".prop_map(|s| format!("{s:?}")),
                Just("1979-05-27T07:32:00Z".to_string()),
                Just("{ a = 1 }".to_string()),
                Just("-1e400".to_string()),
                Just("18446744073709551616".to_string()),
            ];
            leaf.prop_recursive(3, 16, 4, |inner| {
                prop::collection::vec(inner, 0..4).prop_map(|v| format!("[{}]", v.join(", ")))
            })
        }

        fn toml_like() -> impl Strategy<Value = String> {
            let line = prop_oneof![
                (key(), value()).prop_map(|(k, v)| format!("{k} = {v}")),
                prop::sample::select(vec![
                    "[train]",
                    "[metrics]",
                    "[metrics.overcost]",
                    "[theory]",
                    "[bench]",
                    "[nope]",
                    "[[train]]",
                    "[train.x]",
                    "[",
                ])
                .prop_map(str::to_string),
                "\\PC{0,20}",
            ];
            prop::collection::vec(line, 0..8).prop_map(|l| l.join("\n"))
        }

        proptest! {
            #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            // the same cases on every run, so CI is reproducible
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x6d61_6a6d_696e),
            ..ProptestConfig::default()
        })]

            #[test]
            fn config_args_never_panics_and_errors_are_one_paragraph(
                text in prop_oneof![toml_like(), any::<String>()],
                path in prop::sample::select(vec![
                    vec!["train"], vec!["overcost"], vec!["theory"], vec!["flow"],
                    vec!["metrics", "overcost"], vec!["bench"], vec!["data", "info"], vec![],
                ]),
            ) {
                let root = crate::cli_command();
                let path = p(&path);
                match config_args(Path::new("c.toml"), &text, &root, &path) {
                    Ok(found) => {
                        for option in found {
                            for arg in option.args {
                                prop_assert!(arg.starts_with("--"), "{arg}");
                            }
                        }
                    }
                    Err(e) => {
                        prop_assert_eq!(e.code, 2);
                        prop_assert!(e.message.starts_with("c.toml"), "{}", e.message);
                        prop_assert!(!e.message.contains('\n'), "{}", e.message);
                    }
                }
            }
        }
    }
}
