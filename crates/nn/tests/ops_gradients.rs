//! Finite-difference gradient tests of every tape operation, over random shapes, strides,
//! paddings, dilations and group counts (small sizes). Gradients are checked against central
//! differences computed in f64 from the forward kernels (f32 forward, so tolerances are relative
//! to the gradient scale).

use std::sync::Arc;

use dfdx::prelude::{Backward, Cpu, NoneTape, OwnedTape};
use majmin_core::Rng;
use majmin_nn::ops::{self, Activation, BatchNormState, Conv2dSpec, PoolSpec};
use majmin_nn::tape::{Act, ParamStore};

type T = OwnedTape<f32, Cpu>;

/// Random values for a check: inputs, parameters and the probe `r` of the scalar `Σ rᵢ · outᵢ`
/// (`ops::dot`) whose gradients the checks compare.
struct Checker {
    rng: Rng,
}

impl Checker {
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| self.rng.uniform_range(-1.0, 1.0) as f32)
            .collect()
    }
}

/// Runs `f` on input `x` (shape `shape`) and params, returning the scalar Σ r·out and, when
/// `grad`, the gradients wrt x and params.
fn run(
    f: &dyn Fn(Act<T>, &ParamStore) -> Act<T>,
    x: &[f32],
    shape: [usize; 4],
    params: &[f32],
    r: &[f32],
) -> (f64, Vec<f32>, Vec<f32>) {
    let dev = Cpu::default();
    let store = ParamStore::with_grad(Arc::new(params.to_vec()));
    let input = Act::<T>::input(&dev, x.to_vec(), shape).requiring_grad();
    let leaf = input.key();
    let out = f(input, &store);
    assert_eq!(out.len(), r.len());
    let value = ops::dot(out, r);
    let v = value.as_vec()[0] as f64;
    let mut grads = value.backward();
    let gx = leaf.gradient(&mut grads).unwrap();
    let gp = store.grad.as_ref().unwrap().borrow().clone();
    (v, gx, gp)
}

fn check(
    name: &str,
    f: &dyn Fn(Act<T>, &ParamStore) -> Act<T>,
    shape: [usize; 4],
    n_params: usize,
    out_len: usize,
    seed: u64,
) {
    let mut c = Checker {
        rng: Rng::seed_from_u64(seed),
    };
    let x = c.vec(shape.iter().product());
    let p = c.vec(n_params);
    let r = c.vec(out_len);
    let (v0, gx, gp) = run(f, &x, shape, &p, &r);
    let h = 1e-2f32;
    let scale = gx.iter().chain(&gp).fold(1e-3f32, |a, b| a.max(b.abs()));
    let mut worst = 0.0f32;
    let mut checked = 0usize;
    for i in 0..x.len() {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp[i] += h;
        xm[i] -= h;
        if let Some(fd) = central(
            v0,
            run(f, &xp, shape, &p, &r).0,
            run(f, &xm, shape, &p, &r).0,
            h,
            scale,
        ) {
            worst = worst.max((fd - gx[i]).abs() / scale);
            checked += 1;
        }
    }
    for i in 0..p.len() {
        let (mut pp, mut pm) = (p.clone(), p.clone());
        pp[i] += h;
        pm[i] -= h;
        if let Some(fd) = central(
            v0,
            run(f, &x, shape, &pp, &r).0,
            run(f, &x, shape, &pm, &r).0,
            h,
            scale,
        ) {
            worst = worst.max((fd - gp[i]).abs() / scale);
            checked += 1;
        }
    }
    assert!(
        2 * checked >= x.len() + p.len(),
        "{name}: only {checked} coordinates away from kinks"
    );
    assert!(
        worst < 2e-2,
        "{name}: shape {shape:?}: worst relative gradient error {worst}"
    );
}

/// The central difference, or `None` at a kink (one-sided differences disagree: ReLU at 0,
/// max-pool ties), where no derivative exists to compare with.
fn central(v0: f64, plus: f64, minus: f64, h: f32, scale: f32) -> Option<f32> {
    let (fwd, bwd) = ((plus - v0) / h as f64, (v0 - minus) / h as f64);
    ((fwd - bwd).abs() < 0.05 * scale as f64).then_some(((fwd + bwd) / 2.0) as f32)
}

#[test]
fn conv2d_gradient_matches_finite_differences() {
    let mut rng = Rng::seed_from_u64(1);
    for case in 0..12 {
        let groups = [1, 2, 3][rng.below(3)];
        let cin = groups * (1 + rng.below(2));
        let depthwise = case % 4 == 3;
        let (groups, cin, cout) = if depthwise {
            (cin, cin, cin)
        } else {
            (groups, cin, groups * (1 + rng.below(2)))
        };
        let kernel = 1 + rng.below(3);
        let stride = 1 + rng.below(2);
        let padding = rng.below(2);
        let dilation = 1 + rng.below(2);
        let h = dilation * (kernel - 1) + 1 + rng.below(3);
        let w = h + rng.below(2);
        let n = 1 + rng.below(2);
        let bias = rng.below(2) == 0;
        let spec = Conv2dSpec {
            in_channels: cin,
            out_channels: cout,
            kernel,
            stride,
            padding,
            dilation,
            groups,
        };
        let (ho, wo) = spec.geometry(n, (h, w)).out_hw().unwrap();
        let wl = spec.weight_len();
        let np = wl + if bias { cout } else { 0 };
        // Every third case with a fused ReLU, every fifth with a fused ReLU6.
        let act = match case {
            c if c % 3 == 2 => Activation::Relu,
            c if c % 5 == 4 => Activation::Relu6,
            _ => Activation::Identity,
        };
        let f = move |x: Act<T>, s: &ParamStore| {
            ops::conv2d_activated(x, &spec, 0..wl, bias.then_some(wl..wl + cout), act, s)
        };
        check(
            &format!("conv2d {spec:?} then {act:?}"),
            &f,
            [n, cin, h, w],
            np,
            n * cout * ho * wo,
            case,
        );
    }
}

#[test]
fn conv2d_gradient_on_maps_smaller_than_the_kernel() {
    // MobileNet and ResNet at small inputs: a 3×3 kernel with padding 1 on 1×1 and 2×2 maps.
    for (case, (hw, stride, depthwise)) in [
        (1, 2, true),
        (2, 2, true),
        (1, 1, true),
        (2, 1, false),
        (1, 2, false),
        (3, 2, true),
    ]
    .into_iter()
    .enumerate()
    {
        let (cin, cout, groups) = if depthwise { (3, 3, 3) } else { (2, 3, 1) };
        let spec = Conv2dSpec {
            in_channels: cin,
            out_channels: cout,
            kernel: 3,
            stride,
            padding: 1,
            dilation: 1,
            groups,
        };
        let (ho, wo) = spec.geometry(2, (hw, hw)).out_hw().unwrap();
        let wl = spec.weight_len();
        let f =
            move |x: Act<T>, s: &ParamStore| ops::conv2d(x, &spec, 0..wl, Some(wl..wl + cout), s);
        check(
            &format!("conv2d {spec:?} on {hw}×{hw}"),
            &f,
            [2, cin, hw, hw],
            wl + cout,
            2 * cout * ho * wo,
            100 + case as u64,
        );
    }
}

#[test]
fn pools_gradient_match_finite_differences() {
    let mut rng = Rng::seed_from_u64(2);
    for case in 0..10 {
        let kernel = 2 + rng.below(2);
        let stride = 1 + rng.below(2);
        let padding = rng.below(kernel / 2 + 1);
        let ceil_mode = rng.below(2) == 0;
        let (h, w) = (kernel + rng.below(4), kernel + rng.below(4));
        let spec = PoolSpec {
            kernel,
            stride,
            padding,
            ceil_mode,
        };
        let (ho, wo) = spec.geometry(1, (h, w)).out_hw().unwrap();
        let shape = [2, 2, h, w];
        let out = 4 * ho * wo;
        check(
            &format!("max_pool {spec:?}"),
            &move |x: Act<T>, _: &ParamStore| ops::max_pool2d(x, &spec),
            shape,
            0,
            out,
            case,
        );
        check(
            &format!("avg_pool {spec:?}"),
            &move |x: Act<T>, _: &ParamStore| ops::avg_pool2d(x, &spec),
            shape,
            0,
            out,
            case,
        );
    }
}

#[test]
fn pool_output_sizes_follow_pytorch() {
    // SqueezeNet 1.1 on 32×32: conv3×3/2 → 15, then max-pools 3/2 with ceil mode → 7, 3, 1.
    let spec = PoolSpec {
        kernel: 3,
        stride: 2,
        padding: 0,
        ceil_mode: true,
    };
    assert_eq!(spec.geometry(1, (15, 15)).out_hw(), Some((7, 7)));
    assert_eq!(spec.geometry(1, (7, 7)).out_hw(), Some((3, 3)));
    assert_eq!(spec.geometry(1, (3, 3)).out_hw(), Some((1, 1)));
    assert_eq!(spec.geometry(1, (2, 2)).out_hw(), None);
    // ceil mode drops a last window that would start in the right padding.
    let p = PoolSpec {
        kernel: 2,
        stride: 2,
        padding: 1,
        ceil_mode: true,
    };
    assert_eq!(p.geometry(1, (4, 4)).out_hw(), Some((3, 3)));
}

#[test]
fn small_ops_gradient_match_finite_differences() {
    let shape = [2, 3, 3, 2];
    let len = 36;
    check(
        "relu6",
        &|x: Act<T>, _: &ParamStore| ops::relu6(ops::scale(x, 8.0)),
        shape,
        0,
        len,
        3,
    );
    for act in [Activation::Identity, Activation::Relu, Activation::Relu6] {
        // Two uses of one input: its gradient is moved in once, then added to.
        check(
            &format!("add then {act:?}"),
            &move |x: Act<T>, _: &ParamStore| ops::add(ops::scale(x.branch(), 7.0), x, act),
            shape,
            0,
            len,
            9,
        );
    }
    check(
        "global_avg_pool",
        &|x: Act<T>, _: &ParamStore| ops::global_avg_pool(x),
        shape,
        0,
        6,
        4,
    );
    check(
        "flatten+linear",
        &|x: Act<T>, s: &ParamStore| ops::linear(ops::flatten(x), 18, 4, 0..72, 72..76, s),
        shape,
        76,
        8,
        5,
    );
    check(
        "concat",
        &|x: Act<T>, s: &ParamStore| {
            let b = x.branch();
            let spec = Conv2dSpec {
                in_channels: 3,
                out_channels: 2,
                kernel: 1,
                stride: 1,
                padding: 0,
                dilation: 1,
                groups: 1,
            };
            ops::concat_channels(ops::relu(x), ops::conv2d(b, &spec, 0..6, None, s))
        },
        shape,
        6,
        60,
        6,
    );
    check(
        "dropout",
        &|x: Act<T>, _: &ParamStore| ops::dropout(x, 0.5, &mut Rng::seed_from_u64(9)),
        shape,
        0,
        len,
        7,
    );
    for training in [true, false] {
        for act in [Activation::Identity, Activation::Relu, Activation::Relu6] {
            check(
                &format!("batch_norm training={training} then {act:?}"),
                &move |x: Act<T>, s: &ParamStore| {
                    let mut st = BatchNormState {
                        running_mean: vec![0.1, -0.2, 0.3],
                        running_var: vec![0.5, 1.5, 2.0],
                        batches_tracked: 0,
                    };
                    ops::batch_norm2d(x, 0..3, 3..6, &mut st, training, act, s)
                },
                shape,
                6,
                len,
                8,
            );
        }
    }
}

#[test]
fn batch_norm_updates_running_statistics_like_pytorch() {
    let dev = Cpu::default();
    let store = ParamStore::new(Arc::new(vec![1.0, 0.0]));
    let x = Act::<NoneTape>::input(&dev, vec![1.0, 2.0, 3.0, 6.0], [2, 1, 1, 2]);
    let mut st = BatchNormState::new(1);
    let y =
        ops::batch_norm2d(x, 0..1, 1..2, &mut st, true, Activation::Identity, &store).into_values();
    // mean 3, biased var 3.5, unbiased 14/3.
    assert!((st.running_mean[0] - 0.3).abs() < 1e-6);
    assert!((st.running_var[0] - (0.9 + 0.1 * 14.0 / 3.0)).abs() < 1e-5);
    assert!((y[0] - (-2.0 / (3.5f32 + 1e-5).sqrt())).abs() < 1e-5);
}

/// A Winograd F(4×4, 3×3) layer on the tape reuses its forward pass's transformed input for the
/// weight gradient; the gradients are those of the kernels' own backward pass, which transforms
/// the input again, to the bit.
#[test]
fn conv2d_on_the_tape_matches_the_kernel_backward_to_the_bit() {
    use majmin_nn::kernels::{self, winograd};
    let spec = Conv2dSpec {
        in_channels: 32,
        out_channels: 40,
        kernel: 3,
        stride: 1,
        padding: 1,
        dilation: 1,
        groups: 1,
    };
    let shape = [2, 32, 16, 16];
    let geo = spec.geometry(2, (16, 16));
    assert!(winograd::backward_applies(&geo) && winograd::tile_for(&geo) == winograd::Tile::F4);
    let mut c = Checker {
        rng: Rng::seed_from_u64(5),
    };
    let x = c.vec(shape.iter().product());
    let w = c.vec(spec.weight_len());
    let r = c.vec(2 * 40 * 16 * 16);
    let f = |x: Act<T>, s: &ParamStore| ops::conv2d(x, &spec, 0..w.len(), None, s);
    let (_, gx, gw) = run(&f, &x, shape, &w, &r);
    let (dx, dw) = kernels::conv2d_backward(&geo, &x, &w, &r, true);
    // (the forward pass does keep something on this layer)
    let (_, saved) = kernels::conv2d_forward_saving(&geo, &x, &w, None);
    assert!(!saved.is_empty());
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&gw), bits(&dw), "weight gradient");
    assert_eq!(bits(&gx), bits(&dx), "input gradient");
}
