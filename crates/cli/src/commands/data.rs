//! `majmin data info SPEC`: what a data spec loads to — sample count, shape, classes, class
//! counts, and the group sizes and ζ after the optional imbalance subsample (docs/definitions.md, docs/data.md, docs/command-line.md).

use majmin_core::{Dataset, GroupRule};
use majmin_data::DataSpec;
use serde::Serialize;

use crate::context::Context;
use crate::error::CliError;
use crate::output::print_json;

/// Options of `majmin data`.
#[derive(Debug, clap::Args, Serialize)]
pub struct Args {
    #[command(subcommand)]
    command: DataCommand,
}

/// The `data` subcommands.
#[derive(Debug, clap::Subcommand, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataCommand {
    /// Sample count, shape, classes, class counts, group sizes and ζ of a data spec.
    Info(InfoArgs),
}

/// Options of `majmin data info`.
#[derive(Debug, clap::Args, Serialize)]
pub struct InfoArgs {
    /// Data spec: `digits`, `mnist:DIR`, `fashion-mnist:DIR`, `cifar10:DIR`, `csv:FILE`,
    /// `gaussian:d=2,n=1000,sep=2`, then options, e.g. `digits,resize=32,channels=3,normalize` or
    /// `mnist:DIR,split=test`.
    #[arg(value_name = "SPEC")]
    pub spec: String,
    /// Imbalance level ζ = n0/n1 in (0, 1]: keep every majority sample and a class-stratified,
    /// seeded (`--seed`) subsample of round(ζ·n1) minority samples.
    #[arg(long, value_name = "Z")]
    pub zeta: Option<majmin_core::Zeta>,
    /// The minority classes (default: the upper half of the classes, or the spec's `minority=` /
    /// CSV `group=` column).
    #[arg(long, value_name = "K,K,…", value_delimiter = ',')]
    pub minority_classes: Option<Vec<u32>>,
}

/// What `data info` reports (also its `--json`).
#[derive(Debug, Serialize)]
struct Info {
    /// The spec in canonical form.
    spec: String,
    name: String,
    /// Samples after ζ.
    n: usize,
    shape: [usize; 3],
    classes: usize,
    /// Samples per class after ζ.
    class_counts: Vec<usize>,
    /// n1 after ζ.
    majority: usize,
    /// n0 after ζ.
    minority: usize,
    /// The realised n0 / n1 (null when the majority is empty).
    zeta: Option<f64>,
    /// The ζ asked for with `--zeta`.
    zeta_requested: Option<f64>,
    /// The seed of the ζ subsample.
    seed: u64,
    /// The minority classes (null for explicit groups).
    minority_classes: Option<Vec<u32>>,
    /// The data set before the ζ subsample.
    source: SourceInfo,
}

#[derive(Debug, Serialize)]
struct SourceInfo {
    n: usize,
    majority: usize,
    minority: usize,
    zeta: Option<f64>,
}

/// Runs `majmin data …`.
pub fn run(args: &Args, ctx: &Context) -> Result<(), CliError> {
    match &args.command {
        DataCommand::Info(info) => run_info(info, ctx),
    }
}

fn minority_classes_of(ds: &Dataset, spec: &DataSpec, flag: &Option<Vec<u32>>) -> Option<Vec<u32>> {
    if let Some(c) = flag.as_ref().or(spec.minority.as_ref()) {
        return Some(c.clone());
    }
    let explicit = matches!(&spec.source, majmin_data::Source::Csv(o) if o.group.is_some());
    (!explicit)
        .then(|| GroupRule::UpperHalf.minority_classes(ds.classes()))
        .flatten()
}

fn run_info(args: &InfoArgs, ctx: &Context) -> Result<(), CliError> {
    let spec = DataSpec::parse(&args.spec).map_err(CliError::usage)?;
    if let majmin_data::Source::Csv(options) = &spec.source {
        // never a folder, a FIFO or a device such as /dev/zero
        crate::input::regular_file("data spec csv:", &options.path, "a CSV file")?;
    }
    let mut ds = spec.load().map_err(CliError::usage)?;
    if let Some(classes) = &args.minority_classes {
        ds = ds
            .with_group_rule(&GroupRule::MinorityClasses(classes.clone()))
            .map_err(|e| CliError::usage(format!("--minority-classes: {e}")))?;
    }
    let minority_classes = minority_classes_of(&ds, &spec, &args.minority_classes);
    let before = ds.group_sizes();
    let source = SourceInfo {
        n: ds.len(),
        majority: before.majority,
        minority: before.minority,
        zeta: before.zeta(),
    };
    if let Some(zeta) = args.zeta.map(majmin_core::Zeta::get) {
        ds = ds
            .with_imbalance(zeta, ctx.seed)
            .map_err(|e| CliError::usage(format!("--zeta {}: {e}", crate::error::number(zeta))))?;
    }
    let sizes = ds.group_sizes();
    let info = Info {
        spec: spec.to_string(),
        name: ds.name().to_string(),
        n: ds.len(),
        shape: ds.shape(),
        classes: ds.classes(),
        class_counts: ds.class_counts(),
        majority: sizes.majority,
        minority: sizes.minority,
        zeta: sizes.zeta(),
        zeta_requested: args.zeta.map(majmin_core::Zeta::get),
        seed: ctx.seed,
        minority_classes,
        source,
    };
    if ctx.json {
        return print_json(&info);
    }
    print!("{}", render(&info));
    Ok(())
}

fn render(info: &Info) -> String {
    let [c, h, w] = info.shape;
    let mut out = String::new();
    let mut line = |key: &str, value: String| out.push_str(&format!("{key:<14}{value}\n"));
    line("data set", info.name.clone());
    if info.spec != info.name {
        line("spec", info.spec.clone());
    }
    line(
        "samples",
        match info.zeta_requested {
            Some(_) => format!("{} (of {} before the ζ subsample)", info.n, info.source.n),
            None => info.n.to_string(),
        },
    );
    line(
        "shape",
        format!("{c}×{h}×{w} ({} values per sample)", c * h * w),
    );
    line("classes", info.classes.to_string());
    let counts: Vec<String> = info
        .class_counts
        .iter()
        .enumerate()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    line("class counts", counts.join(", "));
    let rule = match &info.minority_classes {
        Some(classes) => {
            let list: Vec<String> = classes.iter().map(u32::to_string).collect();
            format!("minority classes {}", list.join(", "))
        }
        None => "groups from the CSV group column".to_string(),
    };
    line(
        "groups",
        format!(
            "majority n1 = {}, minority n0 = {} ({rule})",
            info.majority, info.minority
        ),
    );
    let zeta = match info.zeta {
        Some(z) => format!("{z:.4} (n0/n1 = {}/{})", info.minority, info.majority),
        None => "undefined (the majority is empty)".to_string(),
    };
    let zeta = match info.zeta_requested {
        Some(r) => format!("{zeta}; requested {r}, seed {}", info.seed),
        None => zeta,
    };
    line("zeta", zeta);
    out
}
