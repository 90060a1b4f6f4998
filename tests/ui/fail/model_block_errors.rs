// Blocks: a block that runs out of levels in its third instance (the error points at
// the block's step and names the instance and the parameter value), an unknown block
// kind, and an array length that is not a listed parameter.
fhe_macros::model! {
    block Pair {
        layers { a: Diagonal, b: Diagonal }
        fn forward(x) {
            let u = a(x);
            let v = b(u);
            v
        }
    }

    pub struct Chain<const N: usize> {
        slots: 4,
        N in [1, 3],
        input_level: 5,
    }
    layers {
        pairs: [Pair; N],
    }
    fn forward(x) {
        let y = pairs(x);
        y
    }
}

fhe_macros::model! {
    pub struct Unknown {
        slots: 4,
        input_level: 5,
    }
    layers {
        p: Missing,
        q: [Pair; M],
    }
    fn forward(x) {
        let y = p(x);
        y
    }
}

fn main() {}
