//! `majmin bench`: images per second of one training step (forward, backward, SGD update with
//! momentum, as `shared/peers/torch_bench.py` times it), or with `--kernel` the convolution
//! kernel's GFLOP/s beside the machine's single-precision GEMM.

use std::time::Instant;

use majmin_core::{ArchConfig, Rng};
use majmin_flow::optim::{Sgd, SgdConfig};
use majmin_models::kernels::{self, ConvAlgorithm, ConvGeometry, MatMut, MatRef};
use serde::Serialize;

use crate::context::{available_memory, format_bytes, Context};
use crate::error::CliError;
use crate::output::print_json;

/// The largest `--batch`.
pub const BATCH_MAX: usize = 65_536;
/// The largest `--hw` (input side in pixels).
pub const HW_MAX: usize = 4096;
/// The largest `--channels`.
pub const CHANNELS_MAX: usize = 4096;
/// The largest `--classes`.
pub const CLASSES_MAX: usize = 1_000_000;
/// The largest `--width` multiplier.
pub const WIDTH_MAX: f64 = 64.0;
/// The most `--steps`.
pub const STEPS_MAX: usize = 100_000;

/// Options of `majmin bench` (threads: the global `--threads`).
///
/// Limits: `--batch` 1 to 65,536, `--hw` 1 to 4,096, `--channels` 1 to 4,096, `--classes` 1 to
/// 1,000,000, `--width` in (0, 64], `--steps` 1 to 100,000; and the memory one step needs at
/// least (parameters, gradient, velocity and the model's own copy; the input batch and the first
/// layer's output, each with its gradient)
/// must fit in the memory available ([`crate::context::available_memory`]), checked before
/// anything is allocated.
#[derive(Debug, clap::Args, serde::Serialize)]
pub struct Args {
    /// Architecture to time (see `majmin models list`).
    #[arg(long, required_unless_present = "kernel")]
    pub arch: Option<String>,
    /// Batch size (1 to 65,536).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Input height and width (1 to 4,096).
    #[arg(long, default_value_t = 32)]
    pub hw: usize,
    /// Input channels (1 to 4,096).
    #[arg(long, default_value_t = 3)]
    pub channels: usize,
    /// Classes (1 to 1,000,000).
    #[arg(long, default_value_t = 10)]
    pub classes: usize,
    /// Width multiplier, in (0, 64].
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    /// Timed steps after two warm-up steps (1 to 100,000).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Time the convolution kernel against SGEMM instead of a training step.
    #[arg(long, conflicts_with = "arch")]
    pub kernel: bool,
}

#[derive(Debug, Serialize)]
struct StepResult {
    arch: String,
    params: usize,
    batch: usize,
    hw: usize,
    channels: usize,
    threads: usize,
    steps: usize,
    step_s: f64,
    images_per_s: f64,
    /// FLOPs of a step counted as direct convolutions and linear layers (`null` for models that
    /// do not report their layers, such as plugins through the C ABI).
    direct_flops_per_step: Option<f64>,
    /// `direct_flops_per_step` over the time of a step.
    useful_gflop_per_s: Option<f64>,
}

/// Runs the command.
pub fn run(args: &Args, ctx: &Context) -> Result<(), CliError> {
    if args.kernel {
        return kernel_bench(args, ctx);
    }
    let name = args
        .arch
        .as_deref()
        .ok_or_else(|| CliError::usage("bench: give --arch NAME or --kernel"))?;
    check_limits(args)?;
    let registry = super::models::registry(ctx)?;
    let arch = registry
        .get(name)
        .map_err(|e| CliError::usage(format!("--arch: {e}")))?;
    let config = ArchConfig {
        input: [args.channels, args.hw, args.hw],
        classes: args.classes,
        width: args.width,
        seed: ctx.seed,
        ..ArchConfig::default()
    };
    // inputs and their gradient; the first layer's output and its gradient, taken as at least
    // max(channels, 16 × width) values per pixel
    let pixels = (args.batch * args.hw * args.hw) as f64;
    let first_layer = pixels * (args.channels as f64).max(16.0 * args.width);
    let activation_bytes = 4.0 * 2.0 * (pixels * args.channels as f64 + first_layer);
    check_memory(args, name, activation_bytes, 0.0)?;
    let params = arch
        .param_count(&config)
        .map_err(|e| CliError::usage(format!("--arch {name}: {e}")))?;
    check_memory(args, name, activation_bytes, 4.0 * 4.0 * params as f64)?;
    let mut model = arch
        .build(&config)
        .map_err(|e| CliError::usage(format!("--arch {name}: {e}")))?;
    model.set_training(true);
    let mut rng = Rng::seed_from_u64(ctx.seed);
    let inputs: Vec<f32> = (0..args.batch * config.feature_len())
        .map(|_| rng.normal() as f32)
        .collect();
    let labels: Vec<u32> = (0..args.batch)
        .map(|_| rng.below(args.classes) as u32)
        .collect();
    let n = model.num_params();
    // the trainer's optimiser, with the peer benchmark's settings (SGD, lr 0.01, momentum 0.9)
    let mut sgd = Sgd::new(
        SgdConfig {
            momentum: 0.9,
            weight_decay: 0.0,
        },
        n,
    );
    let (mut params, mut grad) = (model.params(), vec![0.0f32; n]);
    let mut step = |model: &mut Box<dyn majmin_core::Model>| -> Result<(), CliError> {
        model
            .loss_and_gradient(&inputs, &labels, &mut grad)
            .map_err(|e| match e {
                // a failing plugin is the user's input: exit 2
                majmin_core::ModelError::Plugin { .. } => {
                    CliError::usage(format!("bench {name}: {e}"))
                }
                _ => CliError::run(format!("bench {name}: {e}")),
            })?;
        sgd.step(&mut params, &grad, 0.01);
        model
            .set_params(&params)
            .map_err(|e| CliError::run(e.to_string()))
    };
    step(&mut model)?;
    step(&mut model)?;
    let t = Instant::now();
    for _ in 0..args.steps {
        step(&mut model)?;
    }
    let step_s = t.elapsed().as_secs_f64() / args.steps as f64;
    let direct_flops_per_step = model
        .direct_flops_per_sample()
        .map(|f| f * args.batch as f64);
    let result = StepResult {
        direct_flops_per_step,
        useful_gflop_per_s: direct_flops_per_step.map(|f| f / step_s / 1e9),
        arch: name.to_string(),
        params: n,
        batch: args.batch,
        hw: args.hw,
        channels: args.channels,
        threads: ctx.thread_count(),
        steps: args.steps,
        step_s,
        images_per_s: args.batch as f64 / step_s,
    };
    if ctx.json {
        return print_json(&result);
    }
    println!(
        "{name}: {:.1} images/s ({:.3} s per step of {} images, {}×{}×{}, {} threads, {} parameters)",
        result.images_per_s, step_s, args.batch, args.channels, args.hw, args.hw, result.threads, n
    );
    if let (Some(f), Some(g)) = (direct_flops_per_step, result.useful_gflop_per_s) {
        println!(
            "{:.2} GFLOP per step counted as direct convolutions and linear layers: {g:.1} useful GFLOP/s",
            f / 1e9
        );
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct KernelRow {
    layer: String,
    pass: &'static str,
    /// `winograd` or `im2col` for 3×3 layers timed both ways; empty otherwise.
    algorithm: &'static str,
    gflop_per_s: f64,
    ratio_to_sgemm: f64,
}

#[derive(Debug, Serialize)]
struct KernelResult {
    threads: usize,
    sgemm_gflop_per_s: f64,
    convolutions: Vec<KernelRow>,
}

/// Each size option within its limit, one message per option.
fn check_limits(args: &Args) -> Result<(), CliError> {
    let whole = |option: &str, value: usize, max: usize, what: &str| {
        if value == 0 || value > max {
            Err(CliError::usage(format!(
                "{option} {value}: expected {what}, a whole number from 1 to {max}"
            )))
        } else {
            Ok(())
        }
    };
    whole("--batch", args.batch, BATCH_MAX, "the batch size")?;
    whole("--hw", args.hw, HW_MAX, "the input side in pixels")?;
    whole(
        "--channels",
        args.channels,
        CHANNELS_MAX,
        "the input channels",
    )?;
    whole(
        "--classes",
        args.classes,
        CLASSES_MAX,
        "the number of classes",
    )?;
    whole(
        "--steps",
        args.steps,
        STEPS_MAX,
        "the number of timed steps",
    )?;
    if !(args.width > 0.0 && args.width <= WIDTH_MAX) {
        return Err(CliError::usage(format!(
            "--width {}: expected the width multiplier, a number in (0, {WIDTH_MAX}]",
            args.width
        )));
    }
    Ok(())
}

/// Refuses a step whose memory (at least `input_bytes` + `param_bytes`) exceeds the memory
/// available, naming the size option that grows it most beyond its default.
fn check_memory(
    args: &Args,
    arch: &str,
    input_bytes: f64,
    param_bytes: f64,
) -> Result<(), CliError> {
    let (available, source) = available_memory();
    let need = input_bytes + param_bytes;
    if need <= available as f64 {
        return Ok(());
    }
    let growth = [
        ("--batch", args.batch.to_string(), args.batch as f64 / 64.0),
        ("--hw", args.hw.to_string(), (args.hw as f64 / 32.0).powi(2)),
        (
            "--channels",
            args.channels.to_string(),
            args.channels as f64 / 3.0,
        ),
        ("--width", args.width.to_string(), args.width * args.width),
        (
            "--classes",
            args.classes.to_string(),
            args.classes as f64 / 10.0,
        ),
    ];
    let (option, value, _) = growth
        .iter()
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .expect("five options");
    let parts = if param_bytes > 0.0 {
        format!(
            "inputs and first activations {}, parameters with gradient and velocity {}",
            format_bytes(input_bytes),
            format_bytes(param_bytes)
        )
    } else {
        "inputs and first activations, before counting parameters".to_string()
    };
    Err(CliError::usage(format!(
        "{option} {value}: one training step of {arch} on a batch of {} inputs of {}×{}×{} needs at least {} ({parts}); the limit is {}, {source}",
        args.batch,
        args.channels,
        args.hw,
        args.hw,
        format_bytes(need),
        format_bytes(available as f64)
    )))
}

/// Best-of-`reps` seconds of `f`.
fn best_time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn kernel_bench(args: &Args, ctx: &Context) -> Result<(), CliError> {
    if args.batch == 0 || args.batch > BATCH_MAX {
        return Err(CliError::usage(format!(
            "--batch {}: expected the batch size, a whole number from 1 to {BATCH_MAX}",
            args.batch
        )));
    }
    // the largest layer below (256 → 64 channels at 32×32): input, output and their gradients
    let need = 4.0 * 2.0 * (args.batch * (256 + 64) * 32 * 32) as f64 + 4.0 * 3.0 * 1024.0 * 1024.0;
    let (available, source) = available_memory();
    if need > available as f64 {
        return Err(CliError::usage(format!(
            "--batch {}: the convolution benchmark needs at least {} at this batch; the limit is {}, {source}",
            args.batch,
            format_bytes(need),
            format_bytes(available as f64)
        )));
    }
    let mut rng = Rng::seed_from_u64(ctx.seed);
    let mut random = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.normal() as f32).collect() };
    let s = 1024;
    let (a, b) = (random(s * s), random(s * s));
    let mut c = vec![0.0f32; s * s];
    let t = best_time(5, || {
        kernels::sgemm(
            MatRef::row_major(&a, s, s),
            MatRef::row_major(&b, s, s),
            MatMut::row_major(&mut c, s, s),
            false,
            true,
        )
    });
    let sgemm = 2.0 * (s * s * s) as f64 / t / 1e9;
    let batch = args.batch;
    let layers = [
        ("resnet 3×3 64→64 @32×32", 64, 64, 32, 3, 1, 1),
        ("resnet 3×3 128→128 @16×16", 128, 128, 16, 3, 1, 1),
        ("resnet 3×3 256→256 @8×8", 256, 256, 8, 3, 1, 1),
        ("resnet 3×3 512→512 @4×4", 512, 512, 4, 3, 1, 1),
        ("vgg 3×3 128→256 @8×8", 128, 256, 8, 3, 1, 1),
        ("bottleneck 1×1 256→64 @32×32", 256, 64, 32, 1, 1, 1),
        (
            "mobilenet depthwise 3×3 144 @16×16",
            144,
            144,
            16,
            3,
            1,
            144,
        ),
    ];
    let mut rows = Vec::new();
    for (label, cin, cout, hw, k, stride, groups) in layers {
        let geo = ConvGeometry {
            batch,
            in_channels: cin,
            out_channels: cout,
            in_hw: (hw, hw),
            kernel: k,
            stride,
            padding: k / 2,
            dilation: 1,
            groups,
        };
        let x = random(batch * cin * hw * hw);
        let w = random(cout * cin / groups * k * k);
        let flops = geo.forward_flops();
        // 3×3 layers that run with Winograd are also timed with im2col, side by side
        // (and with F(2×2, 3×3) where Auto takes F(4×4, 3×3))
        let algorithms: &[(ConvAlgorithm, &'static str)] = if kernels::winograd::applies(&geo) {
            if kernels::winograd::tile_for(&geo) == kernels::winograd::Tile::F4 {
                &[
                    (ConvAlgorithm::Auto, "wino 4×4"),
                    (ConvAlgorithm::WinogradF2, "wino 2×2"),
                    (ConvAlgorithm::NoWinograd, "im2col"),
                ]
            } else {
                &[
                    (ConvAlgorithm::Auto, "wino 2×2"),
                    (ConvAlgorithm::NoWinograd, "im2col"),
                ]
            }
        } else {
            &[(ConvAlgorithm::Auto, "")]
        };
        for &(algorithm, name) in algorithms {
            let mut dy = Vec::new();
            let tf = best_time(3, || {
                dy = kernels::conv2d_forward_using(algorithm, &geo, &x, &w, None)
            });
            let tb = best_time(3, || {
                kernels::conv2d_backward_using(algorithm, &geo, &x, &w, &dy, true);
            });
            let (f, b) = (flops / tf / 1e9, 2.0 * flops / tb / 1e9);
            // below 8×8 the backward pass of a Winograd layer runs with im2col
            let backward = if name.starts_with("wino") && !kernels::winograd::backward_applies(&geo)
            {
                "im2col"
            } else {
                name
            };
            for (pass, gflop_per_s, algorithm) in [("forward", f, name), ("backward", b, backward)]
            {
                rows.push(KernelRow {
                    layer: label.into(),
                    pass,
                    algorithm,
                    gflop_per_s,
                    ratio_to_sgemm: gflop_per_s / sgemm,
                });
            }
        }
    }
    let result = KernelResult {
        threads: ctx.thread_count(),
        sgemm_gflop_per_s: sgemm,
        convolutions: rows,
    };
    if ctx.json {
        return print_json(&result);
    }
    println!(
        "SGEMM 1024³: {sgemm:.1} GFLOP/s ({} threads); convolutions at batch {batch}:",
        result.threads
    );
    println!(
        "(GFLOP/s count the direct convolution's FLOPs, so a faster algorithm can pass 100 %)"
    );
    println!(
        "{:<36} {:<9} {:<9} {:>10} {:>9}",
        "layer", "pass", "algorithm", "GFLOP/s", "vs SGEMM"
    );
    for r in &result.convolutions {
        println!(
            "{:<36} {:<9} {:<9} {:>10.1} {:>8.0}%",
            r.layer,
            r.pass,
            r.algorithm,
            r.gflop_per_s,
            100.0 * r.ratio_to_sgemm
        );
    }
    Ok(())
}
