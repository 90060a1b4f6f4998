// A model whose second block runs out of levels, with a second, independent error:
// both are reported at once, each on its own step.
fhe_macros::model! {
    pub struct TooDeep {
        slots: 4,
        input_level: 4,
    }
    layers {
        c1: Dense,
        act1: Poly(degree = 2),
        act2: Poly(degree = 2),
        c2: Dense,
    }
    fn forward(x) {
        let h1 = c1(x);      // 4 → 3
        let a1 = act1(h1);   // 3 → 1
        let a2 = act2(a1);   // needs 2, 1 left
        let h2 = c2(x);      // 4 → 3: fine
        let h3 = c2(h2);     // 3 → 2
        let h4 = act1(h3);   // 2 → 0
        let h5 = c1(h4);     // needs 1, 0 left
        let r = add(a2, h5);
        r
    }
}

fn main() {}
