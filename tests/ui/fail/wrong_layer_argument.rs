// Layers called with the wrong arguments: all reported at once.
fhe_macros::model! {
    pub struct Confused {
        slots: 4,
        input_level: 5,
    }
    layers {
        fc: Dense,
        act: Poly(degree = 2),
    }
    fn forward(x) {
        let h = fc(x);
        let a = act(h, x);     // an activation takes one value
        let b = fc(act);       // a layer is not a value
        let c = conv(h);       // no such layer
        let d = rotate(h, k);  // rotation steps are integer literals
        h
    }
}

fn main() {}
