//! ResNet-20 written in `model!` against the hand-compiled program it takes its folded
//! layers from and the float64 reference network: the macro's plan (levels, bootstraps,
//! rotation keys) must equal the program's symbolic one, and its float64 twin must give
//! the reference logits.

use fhe_dsl::ckks::KeyRequest;
use fhe_models::resnet::data::FashionTestSet;
use fhe_models::resnet::dsl::{program_name, ResNet20, ResNet20N13};
use fhe_models::resnet::program::{Calibration, Program, Symbolic};
use fhe_models::resnet::reference::forward;
use fhe_models::resnet::weights::ResNetWeights;
use std::collections::BTreeMap;
use std::path::Path;

fn narrow() -> ResNetWeights {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resnet20_narrow.safetensors");
    ResNetWeights::load(&p).unwrap()
}

#[test]
fn macro_plan_places_two_bootstraps_at_the_block_inputs() {
    for (boots, auto, out, input, boot) in [
        (
            ResNet20::BOOTSTRAPS,
            ResNet20::AUTO_BOOTSTRAPPED,
            ResNet20::OUTPUT_LEVEL,
            ResNet20::INPUT_LEVEL,
            ResNet20::BOOTSTRAP_LEVEL,
        ),
        (
            ResNet20N13::BOOTSTRAPS,
            ResNet20N13::AUTO_BOOTSTRAPPED,
            ResNet20N13::OUTPUT_LEVEL,
            ResNet20N13::INPUT_LEVEL,
            ResNet20N13::BOOTSTRAP_LEVEL,
        ),
    ] {
        // 2 + 9 × 4 + 1 levels from 22 with 9 after each bootstrap: two, at the
        // outputs of blocks 4 and 6 (the inputs of blocks 5 and 7), as late as possible
        assert_eq!((input, boot), (22, 9));
        assert_eq!(boots, 2);
        assert_eq!(auto, &["b4_y", "b6_y"]);
        assert_eq!(out, 0);
    }
    // every block spends 4 levels on its main path, the shortcut 1 in parallel
    let level = |v: &str| {
        ResNet20::LEVELS
            .iter()
            .find(|(n, _)| *n == v)
            .map(|(_, l)| *l)
            .unwrap()
    };
    assert_eq!(level("y0"), 20);
    assert_eq!(level("b0_y"), 16);
    assert_eq!(level("b3_s"), 7); // projection shortcut, read by the add at level 5
    assert_eq!(level("b3_p"), 5);
    assert_eq!(level("b4_y"), 9); // after the automatic bootstrap
    assert_eq!(level("pooled"), 1);
    assert_eq!(ResNet20::STEPS, 2 + 9 * 6 + 2 + 2);
}

#[test]
fn dsl_model_equals_program_plan_and_reference_on_narrow_weights() {
    let w = narrow();
    let set = FashionTestSet::bundled();
    let images: Vec<_> = (0..8).map(|i| set.image(i).unwrap().0).collect();
    let calib = Calibration::measure(&w, &images, "bundled 0..8");
    let program = Program::new(w.clone(), &calib, 4096, 0.8).unwrap();
    let model = ResNet20N13::from_program(&program).unwrap();
    // the program compiled for another slot count is refused, with a message
    let wide = Program::new(w.clone(), &calib, 1 << 15, 0.8).unwrap();
    let err = ResNet20N13::from_program(&wide).err().unwrap().to_string();
    assert!(err.contains("32768"), "{err}");

    // keys: the macro's request equals the program's symbolic plan, step by step and
    // level by level
    let mut sym = Symbolic {
        boot_level: 9,
        ..Default::default()
    };
    program.run(&mut sym, &22).unwrap();
    assert_eq!(sym.bootstraps, ResNet20N13::BOOTSTRAPS);
    let req: KeyRequest = model.key_request();
    assert!(req.relin);
    let mut got: BTreeMap<i64, usize> = BTreeMap::new();
    for &(s, l) in &req.rotations_up_to {
        let e = got.entry(s).or_insert(l);
        *e = (*e).max(l);
    }
    for &s in &req.rotations {
        got.insert(s, usize::MAX);
    }
    assert_eq!(got, sym.rotations);

    // the float64 twin of the DSL pass gives the reference network's logits
    for x in images.iter().take(3) {
        let packed = program.pack_input(x).unwrap();
        let out = model.forward_plain(&packed);
        let want = forward(&w, x).logits;
        for (a, b) in out[..10].iter().zip(&want) {
            assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}

#[test]
fn every_program_layer_has_a_dsl_value() {
    let names: Vec<String> = ResNet20::LEVELS
        .iter()
        .filter_map(|(v, _)| {
            let op = if v.ends_with("_s") && (v.starts_with("b3") || v.starts_with("b6")) {
                "b3_down"
            } else {
                ""
            };
            program_name(v, op)
        })
        .collect();
    assert_eq!(names.len(), 2 + 9 * 5 + 2 + 2);
    for want in [
        "conv0",
        "act0",
        "block3.down",
        "block3.add",
        "block0.shortcut",
        "fc",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing");
    }
    assert_eq!(
        program_name("b4_y", "bootstrap (automatic)").as_deref(),
        Some("bootstrap before block5")
    );
}
