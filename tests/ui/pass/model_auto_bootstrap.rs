// `auto_bootstrap`: the macro places the fewest bootstraps and the types show them.
fhe_macros::model! {
    pub struct Deep {
        slots: 8,
        input_level: 4,
        bootstrap_level: 6,
        auto_bootstrap,
    }
    layers {
        fc: Dense,
        act: Poly(degree = 3),
        bn: Diagonal,
    }
    fn forward(x) {
        let h1 = fc(x);     // 4 → 3
        let a1 = act(h1);   // 3 → 0
        let h2 = fc(a1);    // needs a bootstrap before it
        let a2 = act(h2);
        let r = add(a2, h2);
        let h3 = bn(r);
        let a3 = act(h3);   // needs another
        let s = sum(a3);
        let y = rotate(s, -1);
        y
    }
}

fn main() {
    assert_eq!(Deep::BOOTSTRAPS, 2);
    assert_eq!(Deep::AUTO_BOOTSTRAPPED, &["a1", "h3"]);
    assert_eq!(Deep::ROTATIONS, &[-1, 1, 2, 3, 4, 5, 6, 7]);
}
