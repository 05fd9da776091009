//! Prints every built-in architecture's state-dict keys and shapes for its default
//! configuration (3×32×32, 10 classes), one line per tensor — `ARCH KEY DIM,DIM,…` (`-` for a
//! scalar) — in the format of `crates/models/bench/state_dict_keys.py`, which prints PyTorch's
//! for the same structures:
//!
//! ```text
//! cargo run -p majmin-models --example state_dict_keys | sort > majmin.txt
//! python crates/models/bench/state_dict_keys.py PATH/TO/torch_bench.py | sort > torch.txt
//! diff majmin.txt torch.txt
//! ```

use majmin_models::Registry;

fn main() {
    let registry = Registry::builtin();
    for entry in registry.iter() {
        let arch = entry.architecture.as_ref();
        let model = arch
            .build(&arch.default_config())
            .expect("the default configuration builds");
        for t in model
            .state_dict()
            .expect("built-in models name their tensors")
        {
            let shape: Vec<String> = t.shape.iter().map(ToString::to_string).collect();
            let shape = if shape.is_empty() {
                "-".to_string()
            } else {
                shape.join(",")
            };
            println!("{} {} {shape}", arch.name(), t.name);
        }
    }
}
