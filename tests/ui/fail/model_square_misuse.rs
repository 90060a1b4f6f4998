// `square` needs its input straight from linear layers (they set the scale it needs),
// each used by nothing else.
fhe_macros::model! {
    struct Misused { slots: 8, input_level: 8 }
    layers { fc: Dense, bn: Diagonal, act: Poly(degree = 2) }
    fn forward(x) {
        let a = act(x);
        let s1 = square(a);      // error: from a polynomial activation
        let h = fc(s1);
        let s2 = square(h);      // error: `h` is also read by `r`
        let g = bn(s2);
        let r = add(g, h);
        let s3 = square(x);      // error: the input
        let y = add(r, s3);
        y
    }
}

fn main() {}
