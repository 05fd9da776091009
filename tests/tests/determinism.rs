//! One seed, one set of curves, whatever the thread count (issue 12, item 7).
//!
//! The CLI trains `--jobs J` runs at a time, each inside its own rayon pool of `threads / J`
//! threads, and cluster nodes differ in core count. So the order of every floating-point
//! reduction must depend on the shapes alone. These tests train a convolutional network with
//! BatchNorm (ResNet-18 at width 1/8 on a slice of the embedded digits) with evaluation points and
//! the zone probe, inside pools of 1, 2 and 3 threads and as two concurrent one-thread runs, and
//! compare every value of the curves and every final parameter bit for bit.

use majmin_core::{ArchConfig, Dataset, EvalPoint, Model};
use majmin_flow::train::{Budget, EvalSchedule, TrainConfig, Trainer};
use majmin_models::Registry;

/// What a run leaves behind: its curves and its final parameters.
struct Run {
    points: Vec<EvalPoint>,
    params: Vec<f32>,
}

/// 240 digits (both groups), 8×8, 10 classes.
fn data() -> Dataset {
    let digits = majmin_data::load_digits().expect("embedded digits");
    let indices: Vec<usize> = (0..240).collect();
    digits.subset(&indices)
}

/// ResNet-18 (BatchNorm after every convolution) at width 1/8, trained for 6 SGD steps of 32
/// samples with momentum and weight decay, evaluated (losses, accuracies, zone probe) at steps
/// 0, 2, 4 and 6 on the whole set in chunks of 100.
fn train(data: &Dataset) -> Run {
    let config = ArchConfig::new([1, 8, 8], 10)
        .with_width(0.125)
        .with_seed(5);
    let mut model: Box<dyn Model> = Registry::builtin()
        .get("resnet18")
        .expect("resnet18 is built in")
        .build(&config)
        .expect("resnet18 accepts 8×8 inputs");
    let train = TrainConfig {
        lr: 0.05,
        batch_size: 32,
        budget: Budget::Steps(6),
        eval: EvalSchedule::EverySteps(2),
        zone: true,
        eval_batch_size: 100,
        seed: 9,
        ..TrainConfig::default()
    };
    let outcome = Trainer::new(train)
        .expect("valid configuration")
        .run(model.as_mut(), data)
        .expect("the run trains");
    assert_eq!(
        outcome.points.len(),
        4,
        "evaluation points at steps 0, 2, 4, 6"
    );
    Run {
        points: outcome.points,
        params: model.params(),
    }
}

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(f)
}

/// Every number of a run, named, as its bits.
fn bits(run: &Run) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for p in &run.points {
        let mut value = |name: &str, v: f64| {
            out.push((format!("step {} {name}", p.step), v.to_bits()));
        };
        value("loss", p.loss);
        value("majority loss", p.majority_loss);
        value("minority loss", p.minority_loss);
        value("accuracy", p.accuracy);
        value("majority accuracy", p.majority_accuracy);
        value("minority accuracy", p.minority_accuracy);
        let zone = p.zone.expect("zone probe requested");
        value("zone ⟨∇L, ∇L1⟩", zone.inner_product);
        value("zone ‖∇L1‖", zone.majority_grad_norm);
        value("zone ‖∇L0‖", zone.minority_grad_norm);
    }
    for (i, v) in run.params.iter().enumerate() {
        out.push((format!("final parameter {i}"), v.to_bits() as u64));
    }
    out
}

/// Panics at the first value where `run` differs from `reference`, naming it.
fn assert_identical(what: &str, reference: &Run, run: &Run) {
    let (a, b) = (bits(reference), bits(run));
    assert_eq!(a.len(), b.len(), "{what}: different numbers of values");
    let differing = a.iter().zip(&b).filter(|(x, y)| x.1 != y.1).count();
    if let Some(((name, x), (_, y))) = a.iter().zip(&b).find(|(x, y)| x.1 != y.1) {
        panic!(
            "{what}: {differing} of {} values differ from the reference run; first: {name}: \
             {x:#x} vs {y:#x}",
            a.len()
        );
    }
}

/// VGG-11 at width 1/4 on 3×32×32 inputs: its 3×3 layers of 32 to 128 channels on 8×8 and 4×4
/// maps run with Winograd F(2×2, 3×3) (issue 14). Four SGD steps with momentum on seeded batches
/// of 24 (enough tiles on the 4×4 maps); the losses, the gradients and the final parameters as
/// bits.
fn train_winograd_net() -> Vec<u32> {
    use majmin_core::Architecture;
    let config = ArchConfig::new([3, 32, 32], 10)
        .with_width(0.25)
        .with_seed(3);
    let arch = majmin_models::builtin_architectures()
        .into_iter()
        .find(|a| a.name() == "vgg11")
        .expect("vgg11 is built in");
    let mut model = arch.build(&config).expect("vgg11 builds at 32×32");
    model.set_training(true);
    let mut params = model.params();
    let (mut grad, mut velocity) = (vec![0.0f32; params.len()], vec![0.0f32; params.len()]);
    let mut out = Vec::new();
    for step in 0..4 {
        let (x, y) = majmin_tests::batch(&config, 24, step);
        let loss = model.loss_and_gradient(&x, &y, &mut grad).expect("a step");
        out.push(loss.to_bits());
        out.extend(grad.iter().map(|g| g.to_bits()));
        for ((p, v), g) in params.iter_mut().zip(&mut velocity).zip(&grad) {
            *v = 0.9 * *v + g;
            *p -= 0.01 * *v;
        }
        model.set_params(&params).expect("same length");
    }
    out.extend(model.params().iter().map(|p| p.to_bits()));
    out
}

#[test]
fn a_network_with_winograd_layers_trains_to_the_same_bits_on_2_threads() {
    use majmin_core::Architecture;
    use majmin_models::kernels::winograd;
    // the test is about Winograd only if the network has such layers at this batch
    let config = ArchConfig::new([3, 32, 32], 10).with_width(0.25);
    let net = majmin_models::builtin_architectures()
        .into_iter()
        .find(|a| a.name() == "vgg11")
        .expect("vgg11 is built in")
        .net(&config)
        .expect("vgg11 builds");
    let winograd_layers = net
        .convolutions()
        .into_iter()
        .filter(|(_, geo)| {
            winograd::applies(&majmin_models::kernels::ConvGeometry { batch: 24, ..*geo })
        })
        .count();
    assert!(
        winograd_layers >= 3,
        "only {winograd_layers} Winograd layers"
    );
    let one = in_pool(1, train_winograd_net);
    for threads in [2, 2, 3] {
        let other = in_pool(threads, train_winograd_net);
        assert_eq!(one.len(), other.len());
        if let Some(i) = one.iter().zip(&other).position(|(a, b)| a != b) {
            panic!(
                "{threads} threads: value {i} of {} differs from the one-thread run",
                one.len()
            );
        }
    }
}

#[test]
fn curves_and_parameters_do_not_depend_on_the_thread_count() {
    let data = data();
    let reference = in_pool(1, || train(&data));
    // The run learns something, so the comparison is not between constant curves.
    let (first, last) = (&reference.points[0], reference.points.last().unwrap());
    assert!(last.loss < first.loss, "{} → {}", first.loss, last.loss);
    for threads in [2, 3] {
        let run = in_pool(threads, || train(&data));
        assert_identical(&format!("{threads} threads"), &reference, &run);
    }
}

#[test]
fn concurrent_runs_in_one_thread_pools_match_a_run_alone() {
    // `--jobs 2` on two threads: two runs at once, each in its own pool of one thread; compared
    // with a run alone on the global pool, whatever its size on this machine, and with two.
    let data = data();
    let alone = in_pool(2, || train(&data));
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| in_pool(1, || train(&data)));
        let b = s.spawn(|| in_pool(1, || train(&data)));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_identical("first of two concurrent runs", &alone, &a);
    assert_identical("second of two concurrent runs", &alone, &b);
    assert_identical("a run on the global pool", &alone, &train(&data));
}
