//! The compiled ResNet program (packing, folded AESPA activations, levels) against the
//! float64 reference network, on the narrow random ResNet-20 fixture: the cleartext
//! twin must reproduce the reference logits (it is the same arithmetic, reordered), the
//! symbolic plan must agree with it on levels, and an input outside bootstrapping's
//! range must be refused with the layer's name.

use fhe_models::resnet::data::FashionTestSet;
use fhe_models::resnet::program::{Calibration, Cleartext, Program, Symbolic, BLOCK_LEVELS};
use fhe_models::resnet::reference::forward;
use fhe_models::resnet::weights::ResNetWeights;
use std::path::Path;

fn fixture() -> ResNetWeights {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resnet20_narrow.safetensors");
    ResNetWeights::load(&p).unwrap()
}

#[test]
fn cleartext_twin_matches_reference_and_plan() {
    let w = fixture();
    let set = FashionTestSet::bundled();
    let images: Vec<_> = (0..8).map(|i| set.image(i).unwrap().0).collect();
    let calib = Calibration::measure(&w, &images, "bundled 0..8");
    let slots = 1 << 15;
    let program = Program::new(w.clone(), &calib, slots, 0.8).unwrap();
    for (start, boot_level) in [(22, 9), (9, 9), (5, 5)] {
        let mut sym = Symbolic {
            boot_level,
            ..Default::default()
        };
        let end = program.run(&mut sym, &start).unwrap();
        // enough bootstraps for the levels: every block needs BLOCK_LEVELS
        assert!(sym.bootstraps >= (9 * BLOCK_LEVELS + 3).saturating_sub(start) / boot_level);
        for x in images.iter().take(3) {
            let mut clear = Cleartext {
                boot_level,
                bootstrap_inputs: vec![],
            };
            let packed = program.pack_input(x).unwrap();
            let (out, level) = program.run(&mut clear, &(packed, start)).unwrap();
            assert_eq!(level, end, "cleartext and symbolic levels agree");
            assert_eq!(clear.bootstrap_inputs.len(), sym.bootstraps);
            // calibrated on these images: stored activations within margin² = 0.64
            for (name, m) in &clear.bootstrap_inputs {
                assert!(*m <= 0.64 + 1e-9, "{name}: {m}");
            }
            let want = forward(&w, x).logits;
            for (a, b) in out[..10].iter().zip(&want) {
                assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "{a} vs {b}");
            }
        }
    }
}

#[test]
fn out_of_range_bootstrap_input_is_refused_with_its_layer() {
    let w = fixture();
    let set = FashionTestSet::bundled();
    let images: Vec<_> = (0..2).map(|i| set.image(i).unwrap().0).collect();
    let mut calib = Calibration::measure(&w, &images, "bundled 0..2");
    // pretend the calibration saw much smaller activations
    for v in calib.bounds.values_mut() {
        v.iter_mut().for_each(|b| *b *= 0.25);
    }
    let program = Program::new(w, &calib, 1 << 15, 0.8).unwrap();
    let mut clear = Cleartext {
        boot_level: 9,
        bootstrap_inputs: vec![],
    };
    let packed = program.pack_input(&images[0]).unwrap();
    let err = program
        .run(&mut clear, &(packed, 9))
        .unwrap_err()
        .to_string();
    assert!(err.contains("bootstrap before block"), "{err}");
    assert!(err.contains("outside [-1, 1]"), "{err}");
}

#[test]
fn calibration_must_cover_every_activation() {
    let w = fixture();
    let set = FashionTestSet::bundled();
    let mut calib = Calibration::measure(&w, &[set.image(0).unwrap().0], "one image");
    calib.bounds.remove("block4.act1");
    let err = Program::new(w.clone(), &calib, 1 << 15, 0.8)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("block4.act1"), "{err}");
    let calib = Calibration::measure(&w, &[set.image(0).unwrap().0], "one image");
    let err = Program::new(w, &calib, 1 << 10, 0.8)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("slots"), "{err}");
}

#[test]
fn vendored_cifar_image_runs_through_the_twin() {
    let w = fixture();
    let path = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/cifar10/cifar10_00_3.png"
    ));
    let x = fhe_models::resnet::data::load_png(path).unwrap();
    assert_eq!(x.shape(), &[3, 32, 32]);
    // a real colour image: the three channels differ
    assert!(x.index_axis(ndarray::Axis(0), 0) != x.index_axis(ndarray::Axis(0), 2));
    let calib = Calibration::measure(&w, [&x], "the image itself");
    let program = Program::new(w.clone(), &calib, 1 << 15, 0.8).unwrap();
    let mut clear = Cleartext {
        boot_level: 9,
        bootstrap_inputs: vec![],
    };
    let (out, _) = program
        .run(&mut clear, &(program.pack_input(&x).unwrap(), 22))
        .unwrap();
    let want = forward(&w, &x).logits;
    for (a, b) in out[..10].iter().zip(&want) {
        assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn noisy_twin_reports_per_layer_errors() {
    use fhe_models::resnet::program::{NoiseModel, NoisyTwin};
    let w = fixture();
    let x = FashionTestSet::bundled().image(4).unwrap().0;
    let calib = Calibration::measure(&w, [&x], "the image itself");
    let program = Program::new(w.clone(), &calib, 1 << 15, 0.8).unwrap();
    let packed = program.pack_input(&x).unwrap();
    let zero = NoiseModel {
        op_std: 0.0,
        bootstrap_std: 0.0,
        seed: 0,
    };
    let mut exact = NoisyTwin::new(9, zero.clone());
    let (clean, _) = program.run(&mut exact, &(packed.clone(), 22)).unwrap();
    // zero noise: the exact twin, every layer traced
    let mut again = NoisyTwin::new(9, zero);
    program.run(&mut again, &(packed.clone(), 22)).unwrap();
    assert!(again.errors_against(&exact).iter().all(|(_, e)| *e == 0.0));
    assert_eq!(exact.trace.len(), 53); // the plan's 53 steps, bootstraps included
    let want = forward(&w, &x).logits;
    for (a, b) in clean[..10].iter().zip(&want) {
        assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "{a} vs {b}");
    }
    // noise only at the bootstraps: nothing changes before the first one
    let mut noisy = NoisyTwin::new(
        9,
        NoiseModel {
            op_std: 0.0,
            bootstrap_std: 1e-6,
            seed: 5,
        },
    );
    program.run(&mut noisy, &(packed, 22)).unwrap();
    let errs = noisy.errors_against(&exact);
    let first = errs
        .iter()
        .position(|(n, _)| n.starts_with("bootstrap"))
        .unwrap();
    assert!(errs[..first].iter().all(|(_, e)| *e == 0.0));
    // 32768 Gaussian samples of σ = 1e-6: the max lies within a few σ
    let e = errs[first].1;
    assert!((2e-6..8e-6).contains(&e), "{e}");
    assert!(errs.last().unwrap().1 > 0.0);
}
