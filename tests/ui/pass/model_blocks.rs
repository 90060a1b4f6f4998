// A block used as a layer and as an array sized by a const generic; the slot count is
// a const generic too. Each instance has its own levels and plan.
use fhe_dsl::model::Model;
use fhe_dsl::typed::{Diagonal, Poly};

fhe_macros::model! {
    /// Two diagonals and a square-free activation.
    pub block Unit {
        layers { d: Diagonal, act: Poly(degree = 2) }
        fn forward(x) {
            let u = d(x);
            let v = act(u);
            v
        }
    }

    pub struct Stack<const SLOTS: usize, const N: usize> {
        slots: SLOTS,
        N in [1, 2],
        input_level: 9,
    }
    layers {
        first: Unit,
        rest: [Unit; N],
    }
    fn forward(x) {
        let y = first(x);
        let z = rest(y);
        z
    }
}

fn unit<const S: usize>() -> Unit<S> {
    Unit {
        d: Diagonal::new(vec![0.5; S], vec![0.0; S]).unwrap(),
        act: Poly::new(vec![0.0, 1.0, 0.25]).unwrap(),
    }
}

fn main() {
    assert_eq!(Stack::<8, 1>::OUTPUT_LEVEL, 3);
    assert_eq!(Stack::<8, 2>::OUTPUT_LEVEL, 0);
    assert_eq!(Stack::<8, 2>::plan().layers[4].path, "rest.1.d");
    let m = Stack::<8, 2> {
        first: unit(),
        rest: [unit(), unit()],
    };
    assert_eq!(m.slots(), 8);
    let y = m.forward_plain(&[1.0; 8]);
    // three times v = 0.5·x + 0.25·(0.5·x)², from 1
    let mut want = 1.0f64;
    for _ in 0..3 {
        let u = 0.5 * want;
        want = u + 0.25 * u * u;
    }
    assert!((y[0] - want).abs() < 1e-12);
}
