// A convolution spends a level like any weighted layer: the activation after it runs
// short.
fhe_macros::model! {
    pub struct ShallowCnn {
        slots: 16,
        input_level: 2,
    }
    layers {
        conv: Conv,
        act: Poly(degree = 2),
    }
    fn forward(x) {
        let h = conv(x);   // 2 → 1
        let a = act(h);    // needs 2, 1 left
        a
    }
}

fn main() {}
