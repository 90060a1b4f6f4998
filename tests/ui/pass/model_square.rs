// AESPA-style residual block: folded convolutions (`Linear`), one-level squares, a
// residual sum, global pooling and a head; the macro places the bootstraps.
fhe_macros::model! {
    pub struct Block {
        slots: 16,
        input_level: 3,
        bootstrap_level: 5,
        auto_bootstrap,
    }
    layers {
        stem: Linear,
        conv1: Linear,
        conv2: Linear,
        skip: Diagonal,
        pool: SpatialSum,
        head: Linear,
    }
    fn forward(x) {
        let z0 = stem(x);
        let y0 = square(z0);
        let z1 = conv1(y0);
        let y1 = square(z1);
        let m = conv2(y1);
        let s = skip(y0);
        let p = add(m, s);
        let y2 = square(p);
        let g = pool(y2);
        let out = head(g);
        out
    }
}

fn main() {
    assert_eq!(Block::BOOTSTRAPS, 1);
    assert_eq!(Block::AUTO_BOOTSTRAPPED, &["y0"]);
    assert!(Block::NEEDS_RELIN);
    assert_eq!(Block::STEPS, 11);
    assert_eq!(Block::OUTPUT_LEVEL, 0);
}
