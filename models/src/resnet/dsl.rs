//! The CIFAR-shaped ResNets (ResNet-20/32/44/56/110) written once in the DSL: a
//! [`BasicBlock`] and three stages of `N` of them, for any slot count (`SLOTS`, from
//! the parameter preset) and depth `6N + 2`. For each depth the macro checks the level
//! budget, places the bootstraps, types every value with its level and derives the
//! exact rotation keys, each only up to the level it is used at.
//!
//! The layers are folded from trained weights by [`fold`](super::fold::fold): every
//! AESPA quadratic's affine part lives in the neighbouring convolutions (`Linear`, with
//! a per-slot bias for the border constants), so each activation is a one-level
//! `square`; the shortcut is a `Linear` too (a scaled identity, or a 1×1 stride-2
//! projection), then global pooling (`SpatialSum`) and the classifier with the
//! `1/(H·W)` folded in.

// ANCHOR: model
fhe_macros::model! {
    /// A residual block: two convolutions, each followed by an AESPA square, and a
    /// shortcut (a scaled identity, or a 1×1 stride-2 projection) added before the
    /// second square.
    pub block BasicBlock {
        layers { conv1: Linear, conv2: Linear, shortcut: Linear }
        fn forward(x) {
            let z1 = conv1(x);
            let a1 = square(z1);
            let m = conv2(a1);
            let s = shortcut(x);
            let p = add(m, s);
            let y = square(p);
            y
        }
    }

    /// ResNet-(6N+2) for 32×32 inputs: a stem convolution, three stages of `N` basic
    /// blocks (16, 32 and 64 channels in the trained models; the second and third stages
    /// halve the resolution), global average pooling and a classifier. `SLOTS` comes
    /// from the parameter preset (32768 at `boot-n16`).
    pub struct ResNet<const SLOTS: usize, const N: usize> {
        slots: SLOTS,
        N in [3, 5, 7, 9, 18],
        input_level: 22,
        bootstrap_level: 9,
        auto_bootstrap,
    }
    layers {
        conv1: Linear,
        layer1: [BasicBlock; N],
        layer2: [BasicBlock; N],
        layer3: [BasicBlock; N],
        pool: SpatialSum,
        fc: Linear,
    }
    fn forward(x) {
        let z0 = conv1(x);
        let y0 = square(z0);
        let y1 = layer1(y0);
        let y2 = layer2(y1);
        let y3 = layer3(y2);
        let pooled = pool(y3);
        let logits = fc(pooled);
        logits
    }
}
// ANCHOR_END: model

/// ResNet-20 (3 blocks per stage).
pub type ResNet20<const SLOTS: usize> = ResNet<SLOTS, 3>;
/// ResNet-32 (5 blocks per stage).
pub type ResNet32<const SLOTS: usize> = ResNet<SLOTS, 5>;
/// ResNet-44 (7 blocks per stage).
pub type ResNet44<const SLOTS: usize> = ResNet<SLOTS, 7>;
/// ResNet-56 (9 blocks per stage).
pub type ResNet56<const SLOTS: usize> = ResNet<SLOTS, 9>;
/// ResNet-110 (18 blocks per stage).
pub type ResNet110<const SLOTS: usize> = ResNet<SLOTS, 18>;

/// The depths [`ResNet`] is instantiated for: `(name, blocks per stage)`.
pub const DEPTHS: [(&str, usize); 5] = [
    ("resnet20", 3),
    ("resnet32", 5),
    ("resnet44", 7),
    ("resnet56", 9),
    ("resnet110", 18),
];
