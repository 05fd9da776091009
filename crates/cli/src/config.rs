//! `--config FILE.toml`: any command-line option, written in a file.
//!
//! Top-level keys are options (`seed = 3`, `epochs = 20`, `zetas = [0.01, 0.1]`); a table named
//! after a command applies to that command only (`[train]`, `[metrics.overcost]`). A key is the
//! option's long name, with `-` or `_`. Values on the command line win over the file. A key that
//! is no option of any command, or a table key that is no option of its command, is an error
//! naming the file, the line and the options that exist.

use std::path::Path;

use clap::Command;

use crate::error::CliError;

/// The options (`--name`) that the file sets for the command at `path` (e.g. `["train"]`), in
/// file order, ready to be placed before the command line's own arguments.
pub fn config_args(
    file: &Path,
    text: &str,
    root: &Command,
    path: &[String],
) -> Result<Vec<String>, CliError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        CliError::usage(format!(
            "{}: not valid TOML: {}",
            file.display(),
            e.to_string().trim()
        ))
    })?;
    let target = find_command(root, path);
    let all_options = all_long_options(root);
    let mut args = Vec::new();
    for (key, value) in &table {
        if let toml::Value::Table(sub) = value {
            if root.find_subcommand(key).is_some() {
                // a command's own table: [train] or [metrics] with [metrics.overcost] inside
                let mut scope = vec![key.clone()];
                collect_table(file, text, root, &mut scope, sub, path, &mut args)?;
                continue;
            }
            return Err(unknown_key(
                file,
                text,
                key,
                "a command name for a table",
                &all_options,
            ));
        }
        let flag = key.replace('_', "-");
        if !all_options.contains(&flag) {
            return Err(unknown_key(
                file,
                text,
                key,
                "an option of some command",
                &all_options,
            ));
        }
        if has_long(target, &flag) {
            push_value(file, text, key, &flag, value, &mut args)?;
        }
    }
    Ok(args)
}

fn collect_table(
    file: &Path,
    text: &str,
    root: &Command,
    scope: &mut Vec<String>,
    table: &toml::Table,
    path: &[String],
    args: &mut Vec<String>,
) -> Result<(), CliError> {
    let cmd = find_command(root, scope);
    for (key, value) in table {
        if let toml::Value::Table(sub) = value {
            if cmd.find_subcommand(key).is_some() {
                scope.push(key.clone());
                collect_table(file, text, root, scope, sub, path, args)?;
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
                key,
                &format!("an option of `majmin {}`", scope.join(" ")),
                &options,
            ));
        }
        if path.starts_with(scope) && has_long(find_command(root, path), &flag) {
            push_value(file, text, key, &flag, value, args)?;
        }
    }
    Ok(())
}

fn push_value(
    file: &Path,
    text: &str,
    key: &str,
    flag: &str,
    value: &toml::Value,
    args: &mut Vec<String>,
) -> Result<(), CliError> {
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
        toml::Value::Boolean(true) => args.push(format!("--{flag}")),
        toml::Value::Boolean(false) => {}
        toml::Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(scalar).collect();
            let parts = parts.ok_or_else(|| {
                CliError::usage(format!(
                    "{}:{}: `{key}` must be a list of numbers or strings",
                    file.display(),
                    line_of(text, key)
                ))
            })?;
            args.push(format!("--{flag}={}", parts.join(",")));
        }
        other => match scalar(other) {
            Some(s) => args.push(format!("--{flag}={s}")),
            None => {
                return Err(CliError::usage(format!(
                    "{}:{}: `{key}` must be a number, a string, a boolean or a list",
                    file.display(),
                    line_of(text, key)
                )))
            }
        },
    }
    Ok(())
}

fn unknown_key(file: &Path, text: &str, key: &str, expected: &str, options: &[String]) -> CliError {
    let mut options = options.to_vec();
    options.sort();
    options.dedup();
    CliError::usage(format!(
        "{}:{}: unknown key `{key}`: expected {expected}; known options: {}",
        file.display(),
        line_of(text, key),
        options.join(", ")
    ))
}

/// The 1-based line where `key` is first assigned (or the table is opened).
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            (t.starts_with(key) && t[key.len()..].trim_start().starts_with('='))
                || t.starts_with(&format!("[{key}"))
        })
        .map(|i| i + 1)
        .unwrap_or(1)
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

fn has_long(cmd: &Command, flag: &str) -> bool {
    long_options(cmd).iter().any(|l| l == flag)
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
                    .arg(Arg::new("epochs").long("epochs"))
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

    #[test]
    fn keys_become_flags_for_the_running_command() {
        let text = "seed = 3\nepochs = 5\nzone = true\n[metrics.overcost]\nkappas = [0.9, 0.99]\n";
        let root = cli().build_for_config();
        let mut args = config_args(Path::new("c.toml"), text, &root, &p(&["train"])).unwrap();
        args.sort();
        assert_eq!(args, p(&["--epochs=5", "--seed=3", "--zone"]));
        let args = config_args(
            Path::new("c.toml"),
            text,
            &root,
            &p(&["metrics", "overcost"]),
        )
        .unwrap();
        assert_eq!(args, p(&["--kappas=0.9,0.99", "--seed=3"]));
    }

    #[test]
    fn unknown_keys_name_file_and_line() {
        let root = cli().build_for_config();
        let err = config_args(
            Path::new("c.toml"),
            "seed = 1\nepoch = 5\n",
            &root,
            &p(&["train"]),
        )
        .unwrap_err();
        assert_eq!(err.code, 2);
        assert!(
            err.message.contains("c.toml:2") && err.message.contains("`epoch`"),
            "{}",
            err.message
        );
        let err = config_args(
            Path::new("c.toml"),
            "[train]\nkappas = 1\n",
            &root,
            &p(&["train"]),
        )
        .unwrap_err();
        assert!(err.message.contains("majmin train"), "{}", err.message);
        let err =
            config_args(Path::new("c.toml"), "seed = [\n", &root, &p(&["train"])).unwrap_err();
        assert!(err.message.contains("not valid TOML"), "{}", err.message);
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
}
