//! The DSL ResNet (one definition, every depth) folded from weights, against the float64
//! reference network: the plan's levels and bootstraps, the cleartext twin layer by
//! layer, range refusals, traces with noise and the key request.

use fhe_dsl::model::{errors_between, trace, Model, NoiseModel};
use fhe_dsl::plan::Op;
use fhe_dsl::typed::RangeLimits;
use fhe_models::resnet::data::FashionTestSet;
use fhe_models::resnet::dsl::{ResNet, ResNet110, ResNet20, ResNet32, ResNet44, ResNet56};
use fhe_models::resnet::fold::{fold, Calibration};
use fhe_models::resnet::planning::random_weights;
use fhe_models::resnet::reference::forward;
use fhe_models::resnet::torch_ref;
use fhe_models::resnet::weights::ResNetWeights;
use std::path::Path;

const S: usize = 1 << 15;

fn narrow() -> ResNetWeights {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resnet20_narrow.safetensors");
    ResNetWeights::load(&p).unwrap()
}

#[test]
fn resnet20_plan_places_two_bootstraps_at_block_outputs() {
    assert_eq!(ResNet20::<S>::BOOTSTRAPS, 2);
    assert_eq!(
        ResNet20::<S>::AUTO_BOOTSTRAPPED,
        &["layer2.1.y", "layer3.0.y"]
    );
    assert_eq!(ResNet20::<S>::INPUT_LEVEL, 22);
    assert_eq!(ResNet20::<S>::OUTPUT_LEVEL, 0);
    let plan = ResNet20::<S>::plan();
    // 1 stem conv + square, 9 blocks of 6 steps, pool, fc, 2 bootstraps
    assert_eq!(plan.steps.len(), 2 + 9 * 6 + 2 + 2);
    assert_eq!(plan.layers.len(), 1 + 9 * 3 + 2);
    // a block reads its input two levels above its output's squares: conv, square,
    // conv, square = 4 levels per block, bootstrapped back to 9
    let lv = |v: &str| {
        ResNet20::<S>::LEVELS
            .iter()
            .find(|(n, _)| *n == v)
            .unwrap()
            .1
    };
    assert_eq!(lv("y0"), 20);
    assert_eq!(lv("layer1.0.y"), 16);
    assert_eq!(lv("layer2.1.y"), 9); // bootstrapped
    assert_eq!(lv("layer2.2.y"), 5);
}

#[test]
fn deeper_resnets_come_from_the_same_definition() {
    let boots = [
        ResNet20::<S>::BOOTSTRAPS,
        ResNet32::<S>::BOOTSTRAPS,
        ResNet44::<S>::BOOTSTRAPS,
        ResNet56::<S>::BOOTSTRAPS,
        ResNet110::<S>::BOOTSTRAPS,
    ];
    // every block needs 4 levels; a bootstrap gives back 9: deeper needs more
    assert!(boots.windows(2).all(|w| w[0] < w[1]), "{boots:?}");
    // blocks beyond the first bootstrap alternate: at least one per two blocks
    assert!(boots[4] >= (54 - 5) / 2, "{boots:?}");
    let plan = ResNet110::<S>::plan();
    assert_eq!(plan.layers.len(), 1 + 54 * 3 + 2);
    assert!(plan.layers.iter().any(|l| l.path == "layer3.17.shortcut"));
}

/// One ResNet built from its PyTorch state dict, every layer's cleartext output against
/// the independent float64 forward of the PyTorch-shaped network (`torch_ref`: batch
/// norms, HerPN activations and shortcuts unfolded).
#[test]
fn cleartext_twin_matches_the_pytorch_network_layer_by_layer() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resnet20_narrow.safetensors");
    let w = ResNetWeights::load(&path).unwrap();
    let sd = torch_ref::StateDict::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
    let set = FashionTestSet::bundled();
    let images: Vec<_> = (0..8).map(|i| set.image(i).unwrap().0).collect();
    let calib = Calibration::measure(&w, &images, "bundled 0..8");
    let f = fold::<S, 3>(&w, &calib, 0.8).unwrap();
    for x in images.iter().take(3) {
        let packed = f.pack_input(x).unwrap();
        let tr = trace(&f.model, &packed, &NoiseModel::none()).unwrap();
        let reference = torch_ref::forward(&sd, x).unwrap();
        let mut checked = 0;
        for p in &f.probes {
            let step = tr
                .iter()
                .rev()
                .find(|s| s.value == p.value && s.op != "bootstrap (automatic)");
            let step = step.unwrap_or_else(|| panic!("no step defines `{}`", p.value));
            let got = p.read(&step.slots);
            let want: Vec<f64> = if p.reference == "fc" {
                reference.logits.clone()
            } else {
                reference
                    .layer(&p.reference)
                    .unwrap_or_else(|| panic!("reference lacks `{}`", p.reference))
                    .iter()
                    .copied()
                    .collect()
            };
            assert_eq!(got.len(), want.len(), "{}", p.value);
            let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-9 * scale,
                    "{} ({}): {a} vs {b}",
                    p.value,
                    p.reference
                );
            }
            checked += 1;
        }
        // stem (2) + 9 blocks × 4 + pool + logits
        assert_eq!(checked, 2 + 36 + 2);
        // forward_plain is the same twin
        let plain = f.model.forward_plain(&packed);
        assert_eq!(plain, tr.last().unwrap().slots);
        // calibrated on these images: every bootstrap input within margin² = 0.64
        let limits = RangeLimits::new(
            &fhe_dsl::ckks::Params::new_insecure_for_tests(
                fhe_dsl::circuits::BootstrapPreset::by_name("boot-n16")
                    .unwrap()
                    .params,
            )
            .unwrap(),
        )
        .with_bootstrap_bound(0.64 + 1e-9);
        f.model.check_ranges(&packed, &limits).unwrap();
    }
}

#[test]
fn out_of_range_bootstrap_input_is_refused_with_its_step() {
    let w = narrow();
    let set = FashionTestSet::bundled();
    let images: Vec<_> = (0..2).map(|i| set.image(i).unwrap().0).collect();
    // calibrated with a margin of 1 on one image, the other exceeds the bounds somewhere
    let calib = Calibration::measure(&w, &images[..1], "one image");
    let f = fold::<S, 3>(&w, &calib, 1.0).unwrap();
    let params = fhe_dsl::ckks::Params::new_insecure_for_tests(
        fhe_dsl::circuits::BootstrapPreset::by_name("boot-n16")
            .unwrap()
            .params,
    )
    .unwrap();
    let limits = RangeLimits::new(&params).with_bootstrap_bound(0.5);
    let err = f
        .model
        .check_ranges(&f.pack_input(&images[1]).unwrap(), &limits)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("layer2.1.y") && err.contains("bootstrap"),
        "{err}"
    );
}

#[test]
fn fold_names_what_does_not_fit() {
    let w = narrow();
    let mut calib = Calibration::unit(&w);
    calib.bounds.remove("block4.act1");
    let err = fold::<S, 3>(&w, &calib, 0.8).err().unwrap().to_string();
    assert!(err.contains("block4.act1"), "{err}");
    // ResNet-20 weights are not a ResNet-32
    let err = fold::<S, 5>(&w, &Calibration::unit(&w), 0.8)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("9 residual blocks") && err.contains("15"),
        "{err}"
    );
    // too few slots for a C×32×32 activation
    let err = fold::<1024, 3>(&w, &Calibration::unit(&w), 0.8)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("slots"), "{err}");
}

#[test]
fn vendored_cifar_image_runs_through_the_twin() {
    let w = narrow();
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/cifar10/cifar10_00_3.png"
    ));
    let x = fhe_models::resnet::data::load_png(path).unwrap();
    assert_eq!(x.shape(), &[3, 32, 32]);
    assert!(x.index_axis(ndarray::Axis(0), 0) != x.index_axis(ndarray::Axis(0), 2));
    let calib = Calibration::measure(&w, [&x], "the image itself");
    let f = fold::<S, 3>(&w, &calib, 0.8).unwrap();
    let out = f.model.forward_plain(&f.pack_input(&x).unwrap());
    let want = forward(&w, &x).logits;
    for (a, b) in out[..10].iter().zip(&want) {
        assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn noisy_trace_reports_per_step_errors() {
    let w = narrow();
    let x = FashionTestSet::bundled().image(4).unwrap().0;
    let calib = Calibration::measure(&w, [&x], "the image itself");
    let f = fold::<S, 3>(&w, &calib, 0.8).unwrap();
    let packed = f.pack_input(&x).unwrap();
    let exact = trace(&f.model, &packed, &NoiseModel::none()).unwrap();
    let again = trace(&f.model, &packed, &NoiseModel::none()).unwrap();
    assert!(errors_between(&again, &exact)
        .iter()
        .all(|(_, e)| *e == 0.0));
    assert_eq!(exact.len(), ResNet20::<S>::STEPS);
    // noise only at the bootstraps: nothing changes before the first one
    let noisy = trace(
        &f.model,
        &packed,
        &NoiseModel {
            op_std: 0.0,
            bootstrap_std: 1e-6,
            seed: 5,
        },
    )
    .unwrap();
    let errs = errors_between(&noisy, &exact);
    let first = exact
        .iter()
        .position(|s| s.op.starts_with("bootstrap"))
        .unwrap();
    assert!(errs[..first].iter().all(|(_, e)| *e == 0.0));
    // 32768 Gaussian samples of σ = 1e-6: the max lies within a few σ
    let e = errs[first].1;
    assert!((2e-6..8e-6).contains(&e), "{e}");
    assert!(errs.last().unwrap().1 > 0.0);
    // negative noise is refused
    let bad = NoiseModel {
        op_std: -1.0,
        ..NoiseModel::none()
    };
    assert!(trace(&f.model, &packed, &bad).is_err());
}

#[test]
fn key_request_serves_each_layer_up_to_its_level() {
    let w = random_weights(3, 10, 7);
    let f = fold::<S, 3>(&w, &Calibration::unit(&w), 0.8).unwrap();
    let m: &ResNet<S, 3> = &f.model;
    let req = m.key_request();
    assert!(req.relin);
    let plan = m.plan();
    // every layer's steps are requested, at least up to the level it runs at
    for (i, st) in plan.steps.iter().enumerate() {
        let Op::Layer(l) = st.op else { continue };
        let at = plan.input_level_of(i);
        for k in m.layer(l).unwrap().rotations() {
            let served = req
                .rotations_up_to
                .iter()
                .filter(|(s, _)| *s == k)
                .map(|(_, lv)| *lv)
                .max()
                .unwrap_or(0);
            assert!(
                served >= at,
                "step {k} of {} at level {at}: keys up to {served}",
                st.callee
            );
        }
    }
    // and nothing else
    assert_eq!(m.rotations_for().len(), {
        let mut all: Vec<i64> = req.rotations_up_to.iter().map(|(k, _)| *k).collect();
        all.sort_unstable();
        all.dedup();
        all.len()
    });
}
