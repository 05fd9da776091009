//! Winograd (F(4×4, 3×3) and F(2×2, 3×3)) against the definition on every layer shape of the
//! zoo that runs with it (issue 14): each built-in architecture is built at the poster's configuration (3×32×32, 10
//! classes, width 1) and at the fashion preset's 1×32×32 with widths 1, 1/2, 1/4 and 1/8, and
//! every distinct 3×3 convolution the kernels run with Winograd is checked, forward pass, input gradient and weight gradient, value
//! by value within the bound stated at `majmin_nn::kernels::winograd::check_against_definition`.

use std::collections::BTreeSet;

use majmin_core::{ArchConfig, Architecture};
use majmin_models::builtin_architectures;
use majmin_models::kernels::{winograd, ConvGeometry};

/// The batch of the check: 2 (two samples per weight-gradient sum, and tasks of more than one
/// sample); the Winograd path is checked whatever the speed policy would choose at this batch.
const BATCH: usize = 2;

#[test]
fn winograd_is_within_its_bound_on_every_zoo_layer_it_runs() {
    let mut shapes = BTreeSet::new();
    let mut per_arch = Vec::new();
    for arch in builtin_architectures() {
        let mut count = 0;
        let configs = [
            ArchConfig::new([3, 32, 32], 10),
            ArchConfig::new([1, 32, 32], 10),
            ArchConfig::new([1, 32, 32], 10).with_width(0.5),
            ArchConfig::new([1, 32, 32], 10).with_width(0.25),
            ArchConfig::new([1, 32, 32], 10).with_width(0.125),
        ];
        for config in configs {
            let net = arch.net(&config).expect("the zoo builds at 32×32");
            for (_, geo) in net.convolutions() {
                // the layers that run with Winograd at the benchmarks' batch of 64
                if winograd::applies(&ConvGeometry { batch: 64, ..geo }) {
                    count += 1;
                    shapes.insert((geo.in_channels, geo.out_channels, geo.in_hw, geo.padding));
                }
            }
        }
        per_arch.push((arch.name().to_string(), count));
    }
    // the 3×3 networks of the poster have such layers; a change that switched Winograd off would
    // leave this test checking nothing
    assert!(
        shapes.len() >= 10,
        "only {} distinct Winograd shapes in the zoo: {per_arch:?}",
        shapes.len()
    );
    let mut worst = 0.0f64;
    for (i, &(c, o, hw, padding)) in shapes.iter().enumerate() {
        let geo = ConvGeometry {
            batch: BATCH,
            in_channels: c,
            out_channels: o,
            in_hw: hw,
            kernel: 3,
            stride: 1,
            padding,
            dilation: 1,
            groups: 1,
        };
        // the tile the kernels choose, and F(2×2, 3×3) where they choose F(4×4, 3×3)
        let mut tiles = vec![winograd::tile_for(&geo)];
        if tiles[0] == winograd::Tile::F4 {
            tiles.push(winograd::Tile::F2);
        }
        for tile in tiles {
            let ratio = winograd::check_against_definition(&geo, tile, i as u64)
                .unwrap_or_else(|e| panic!("{e}"));
            worst = worst.max(ratio);
        }
    }
    eprintln!(
        "{} shapes; the largest error is {worst:.2e} of its bound",
        shapes.len()
    );
}
