// `Conv` layers cost one level each like `Dense`; their rotation steps depend on their
// layouts, so the instance (not the `ROTATIONS` constant) lists them.
use fhe_dsl::backend::Backend;
use fhe_dsl::ckks::Evaluator;
use fhe_dsl::tensor::Layout;
use fhe_dsl::typed::{Bootstrap, Conv, EncVector, Poly};

fhe_macros::model! {
    pub struct Cnn {
        slots: 256,
        input_level: 4,
        bootstrap_level: 4,
    }
    layers {
        c1: Conv,
        act: Poly(degree = 2),
        c2: Conv,
    }
    fn forward(x) {
        let h = c1(x);          // 4 → 3
        let a = act(h);         // 3 → 1
        let b = bootstrap(a);   // → 4
        let y = c2(b);          // 4 → 3
        let r = add(y, h);      // 3
        r
    }
}

#[allow(dead_code)]
fn server<B: Backend>(
    m: &Cnn,
    ev: &Evaluator<B>,
    bt: &impl Bootstrap<B, 4>,
    x: EncVector<B, 256, 4>,
) -> fhe_dsl::Result<EncVector<B, 256, 3>> {
    m.forward(ev, bt, x)
}

fn main() -> fhe_dsl::Result<()> {
    assert_eq!(
        Cnn::LEVELS,
        &[("x", 4), ("h", 3), ("a", 1), ("b", 4), ("y", 3), ("r", 3)]
    );
    assert!(Cnn::ROTATIONS.is_empty());
    let l = Layout::multiplexed(4, 8, 8, 1)?; // period 256
    let model = Cnn {
        c1: Conv::new(l, l, 3, 1, 1, vec![0.01; 4 * 4 * 9], vec![0.0; 4])?,
        act: Poly::new(vec![0.0, 1.0, 0.5])?,
        c2: Conv::new(l, l, 1, 1, 0, vec![0.5; 4 * 4], vec![0.1; 4])?,
    };
    let mut want = model.c1.rotations();
    want.extend(model.c2.rotations());
    want.sort_unstable();
    want.dedup();
    assert!(!want.is_empty());
    assert_eq!(model.rotations_for(), want);
    // conv keys only up to the level the convs run at (both at 4)
    let req = model.key_request();
    assert!(req.relin && req.rotations.is_empty());
    let mut steps: Vec<i64> = req.rotations_up_to.iter().map(|&(k, _)| k).collect();
    steps.sort_unstable();
    steps.dedup();
    assert_eq!(steps, want);
    assert!(req.rotations_up_to.iter().all(|&(_, level)| level == 4));
    Ok(())
}
