// The block branch is bootstrapped, the skip branch is not: the residual add lands at
// the skip branch's level and the next layer has nothing left.
fhe_macros::model! {
    pub struct Residual {
        slots: 4,
        input_level: 3,
        bootstrap_level: 5,
    }
    layers {
        c1: Dense,
        act: Poly(degree = 2),
        c2: Dense,
    }
    fn forward(x) {
        let h = c1(x);          // 3 → 2
        let a = act(h);         // 2 → 0
        let b = bootstrap(a);   // → 5
        let c = c2(b);          // 5 → 4
        let r = add(c, a);      // skip branch `a` is at level 0
        let y = c2(r);          // needs 1, 0 left
        y
    }
}

fn main() {}
