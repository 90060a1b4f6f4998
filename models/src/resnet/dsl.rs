//! ResNet-20 written in the DSL: one [`fhe_macros::model!`] source, instantiated for the
//! slot counts of the presets it runs on. The macro checks the level budget, places the
//! bootstraps (two at `boot-n16`: after blocks 4 and 6), types every value with its level
//! and derives the exact rotation keys, each only up to the level it is used at.
//!
//! The layers are the folded ones [`Program`] compiles from the trained weights: every
//! AESPA quadratic's affine part lives in the neighbouring convolutions (`Linear`, with
//! a per-slot bias for the border constants), so each activation is a one-level
//! `square`; the identity shortcut is a `Diagonal` (the view change between the block
//! input and the sum), the projection shortcut a 1×1 stride-2 `Linear`, then global
//! pooling (`SpatialSum`) and the classifier with the `1/(H·W)` folded in.

use super::program::{Engine, Program};
use anyhow::{anyhow, bail, Result};
use fhe_dsl::backend::Backend;
use fhe_dsl::circuits::Bootstrapper;
use fhe_dsl::ckks::{Ciphertext, Evaluator, KeyRequest};
use fhe_dsl::nn::PackedLinear;
use fhe_dsl::tensor::Layout;
use fhe_dsl::typed::{Ct, Diagonal, EncVector, LeveledBootstrapper, Linear, Observer, SpatialSum};
use std::collections::BTreeMap;

macro_rules! resnet20 {
    ($doc:literal, $name:ident, $slots:literal, $input:literal, $boot:literal) => {
        // ANCHOR: model
        fhe_macros::model! {
            #[doc = $doc]
            pub struct $name {
                slots: $slots,
                input_level: $input,
                bootstrap_level: $boot,
                auto_bootstrap,
            }
            layers {
                conv0: Linear,
                b0_conv1: Linear, b0_conv2: Linear, b0_skip: Diagonal,
                b1_conv1: Linear, b1_conv2: Linear, b1_skip: Diagonal,
                b2_conv1: Linear, b2_conv2: Linear, b2_skip: Diagonal,
                b3_conv1: Linear, b3_conv2: Linear, b3_down: Linear,
                b4_conv1: Linear, b4_conv2: Linear, b4_skip: Diagonal,
                b5_conv1: Linear, b5_conv2: Linear, b5_skip: Diagonal,
                b6_conv1: Linear, b6_conv2: Linear, b6_down: Linear,
                b7_conv1: Linear, b7_conv2: Linear, b7_skip: Diagonal,
                b8_conv1: Linear, b8_conv2: Linear, b8_skip: Diagonal,
                pool: SpatialSum, fc: Linear,
            }
            fn forward(x) {
                let z0 = conv0(x);
                let y0 = square(z0);
                let b0_z1 = b0_conv1(y0);
                let b0_a1 = square(b0_z1);
                let b0_m = b0_conv2(b0_a1);
                let b0_s = b0_skip(y0);
                let b0_p = add(b0_m, b0_s);
                let b0_y = square(b0_p);
                // ANCHOR_END: model
                let b1_z1 = b1_conv1(b0_y);
                let b1_a1 = square(b1_z1);
                let b1_m = b1_conv2(b1_a1);
                let b1_s = b1_skip(b0_y);
                let b1_p = add(b1_m, b1_s);
                let b1_y = square(b1_p);
                let b2_z1 = b2_conv1(b1_y);
                let b2_a1 = square(b2_z1);
                let b2_m = b2_conv2(b2_a1);
                let b2_s = b2_skip(b1_y);
                let b2_p = add(b2_m, b2_s);
                let b2_y = square(b2_p);
                // ANCHOR: down
                let b3_z1 = b3_conv1(b2_y);
                let b3_a1 = square(b3_z1);
                let b3_m = b3_conv2(b3_a1);
                let b3_s = b3_down(b2_y);
                let b3_p = add(b3_m, b3_s);
                let b3_y = square(b3_p);
                // ANCHOR_END: down
                let b4_z1 = b4_conv1(b3_y);
                let b4_a1 = square(b4_z1);
                let b4_m = b4_conv2(b4_a1);
                let b4_s = b4_skip(b3_y);
                let b4_p = add(b4_m, b4_s);
                let b4_y = square(b4_p);
                let b5_z1 = b5_conv1(b4_y);
                let b5_a1 = square(b5_z1);
                let b5_m = b5_conv2(b5_a1);
                let b5_s = b5_skip(b4_y);
                let b5_p = add(b5_m, b5_s);
                let b5_y = square(b5_p);
                let b6_z1 = b6_conv1(b5_y);
                let b6_a1 = square(b6_z1);
                let b6_m = b6_conv2(b6_a1);
                let b6_s = b6_down(b5_y);
                let b6_p = add(b6_m, b6_s);
                let b6_y = square(b6_p);
                let b7_z1 = b7_conv1(b6_y);
                let b7_a1 = square(b7_z1);
                let b7_m = b7_conv2(b7_a1);
                let b7_s = b7_skip(b6_y);
                let b7_p = add(b7_m, b7_s);
                let b7_y = square(b7_p);
                let b8_z1 = b8_conv1(b7_y);
                let b8_a1 = square(b8_z1);
                let b8_m = b8_conv2(b8_a1);
                let b8_s = b8_skip(b7_y);
                let b8_p = add(b8_m, b8_s);
                let b8_y = square(b8_p);
                // ANCHOR: head
                let pooled = pool(b8_y);
                let logits = fc(pooled);
                logits
            }
        }
        // ANCHOR_END: head

        impl $name {
            /// Takes the folded layers of `program` (compiled for this model's slot
            /// count). Errors, naming the layer, when the program is not a ResNet-20 of
            /// this shape (9 blocks, projection shortcuts in blocks 3 and 6).
            pub fn from_program(program: &Program) -> Result<Self> {
                let mut c = Capture::run(program, Self::SLOTS)?;
                let model = $name {
                    conv0: c.linear("conv0")?,
                    b0_conv1: c.linear("block0.conv1")?,
                    b0_conv2: c.linear("block0.conv2")?,
                    b0_skip: c.diagonal("block0.shortcut")?,
                    b1_conv1: c.linear("block1.conv1")?,
                    b1_conv2: c.linear("block1.conv2")?,
                    b1_skip: c.diagonal("block1.shortcut")?,
                    b2_conv1: c.linear("block2.conv1")?,
                    b2_conv2: c.linear("block2.conv2")?,
                    b2_skip: c.diagonal("block2.shortcut")?,
                    b3_conv1: c.linear("block3.conv1")?,
                    b3_conv2: c.linear("block3.conv2")?,
                    b3_down: c.linear("block3.down")?,
                    b4_conv1: c.linear("block4.conv1")?,
                    b4_conv2: c.linear("block4.conv2")?,
                    b4_skip: c.diagonal("block4.shortcut")?,
                    b5_conv1: c.linear("block5.conv1")?,
                    b5_conv2: c.linear("block5.conv2")?,
                    b5_skip: c.diagonal("block5.shortcut")?,
                    b6_conv1: c.linear("block6.conv1")?,
                    b6_conv2: c.linear("block6.conv2")?,
                    b6_down: c.linear("block6.down")?,
                    b7_conv1: c.linear("block7.conv1")?,
                    b7_conv2: c.linear("block7.conv2")?,
                    b7_skip: c.diagonal("block7.shortcut")?,
                    b8_conv1: c.linear("block8.conv1")?,
                    b8_conv2: c.linear("block8.conv2")?,
                    b8_skip: c.diagonal("block8.shortcut")?,
                    pool: c.pool("pool")?,
                    fc: c.linear("fc")?,
                };
                c.finish()?;
                Ok(model)
            }
        }

        impl DslResNet for $name {
            const SLOTS: usize = $slots;
            const INPUT_LEVEL: usize = $input;
            const BOOTSTRAP_LEVEL: usize = $boot;
            const STEPS: usize = $name::STEPS;
            const BOOTSTRAPS: usize = $name::BOOTSTRAPS;

            fn from_program(program: &Program) -> Result<Self> {
                $name::from_program(program)
            }

            fn key_request_for(&self) -> KeyRequest {
                $name::key_request(self)
            }

            fn diagonals(&self, layer: &str) -> usize {
                match layer {
                    "conv0" => self.conv0.diagonals(),
                    "b0_conv1" => self.b0_conv1.diagonals(),
                    "b0_conv2" => self.b0_conv2.diagonals(),
                    "b0_skip" => 1,
                    "b1_conv1" => self.b1_conv1.diagonals(),
                    "b1_conv2" => self.b1_conv2.diagonals(),
                    "b1_skip" => 1,
                    "b2_conv1" => self.b2_conv1.diagonals(),
                    "b2_conv2" => self.b2_conv2.diagonals(),
                    "b2_skip" => 1,
                    "b3_conv1" => self.b3_conv1.diagonals(),
                    "b3_conv2" => self.b3_conv2.diagonals(),
                    "b3_down" => self.b3_down.diagonals(),
                    "b4_conv1" => self.b4_conv1.diagonals(),
                    "b4_conv2" => self.b4_conv2.diagonals(),
                    "b4_skip" => 1,
                    "b5_conv1" => self.b5_conv1.diagonals(),
                    "b5_conv2" => self.b5_conv2.diagonals(),
                    "b5_skip" => 1,
                    "b6_conv1" => self.b6_conv1.diagonals(),
                    "b6_conv2" => self.b6_conv2.diagonals(),
                    "b6_down" => self.b6_down.diagonals(),
                    "b7_conv1" => self.b7_conv1.diagonals(),
                    "b7_conv2" => self.b7_conv2.diagonals(),
                    "b7_skip" => 1,
                    "b8_conv1" => self.b8_conv1.diagonals(),
                    "b8_conv2" => self.b8_conv2.diagonals(),
                    "b8_skip" => 1,
                    "pool" => 0,
                    "fc" => self.fc.diagonals(),
                    _ => 0,
                }
            }

            fn run<B: Backend>(
                &self,
                ev: &Evaluator<B>,
                boot: &Bootstrapper<B>,
                ct: Ciphertext<B>,
                obs: &mut dyn Observer<B>,
            ) -> Result<Ciphertext<B>> {
                let bt = LeveledBootstrapper::<B, $boot>::new(boot)?;
                let x = EncVector::<B, $slots, $input>::try_from_ct(Ct::try_from_ciphertext(ct)?)?;
                let y = self.forward_observed(ev, &bt, x, obs)?;
                Ok(y.into_ct().into_ciphertext())
            }
        }
    };
}

/// What the encrypted runner needs from a ResNet-20 instance, whatever its slot count.
pub trait DslResNet: Sized {
    /// Slots per ciphertext.
    const SLOTS: usize;
    /// Level the input is encrypted at.
    const INPUT_LEVEL: usize;
    /// Level a bootstrap returns.
    const BOOTSTRAP_LEVEL: usize;
    /// Steps of the forward pass, bootstraps included.
    const STEPS: usize;
    /// Bootstraps per forward pass.
    const BOOTSTRAPS: usize;
    /// The folded layers of `program`.
    fn from_program(program: &Program) -> Result<Self>;
    /// The evaluation keys the forward pass needs (bootstrapping's not included).
    fn key_request_for(&self) -> KeyRequest;
    /// Plaintext diagonals a layer multiplies (0 for unknown names).
    fn diagonals(&self, layer: &str) -> usize;
    /// The forward pass on a ciphertext at [`INPUT_LEVEL`](Self::INPUT_LEVEL), every
    /// step reported to `obs`.
    fn run<B: Backend>(
        &self,
        ev: &Evaluator<B>,
        boot: &Bootstrapper<B>,
        ct: Ciphertext<B>,
        obs: &mut dyn Observer<B>,
    ) -> Result<Ciphertext<B>>;
}

resnet20!(
    "ResNet-20 on 32768 slots (N = 2^16: `boot-n16`), input at level 22.",
    ResNet20,
    32768,
    22,
    9
);
resnet20!(
    "ResNet-20 on 4096 slots (N = 2^13: the insecure `boot-n13` test preset), input at level 22.",
    ResNet20N13,
    4096,
    22,
    9
);

/// The layers of one [`Program`] run, by name: a recording [`Engine`].
struct Capture {
    linear: BTreeMap<String, (PackedLinear, Vec<f64>)>,
    diagonal: BTreeMap<String, Vec<f64>>,
    pool: BTreeMap<String, Layout>,
}

impl Capture {
    fn run(program: &Program, slots: usize) -> Result<Capture> {
        if program.slots() != slots {
            bail!(
                "the program is compiled for {} slots, the DSL model has {slots}",
                program.slots()
            );
        }
        let mut c = Capture {
            linear: BTreeMap::new(),
            diagonal: BTreeMap::new(),
            pool: BTreeMap::new(),
        };
        program.run(&mut c, &())?;
        Ok(c)
    }

    fn missing(name: &str, what: &str) -> anyhow::Error {
        anyhow!("the DSL ResNet-20 needs a {what} `{name}`, which these weights do not produce")
    }

    fn linear<const N: usize>(&mut self, name: &str) -> Result<Linear<N>> {
        let (m, b) = self
            .linear
            .remove(name)
            .ok_or_else(|| Self::missing(name, "linear layer"))?;
        Ok(Linear::new(m, b)?)
    }

    fn diagonal<const N: usize>(&mut self, name: &str) -> Result<Diagonal<N>> {
        let w = self
            .diagonal
            .remove(name)
            .ok_or_else(|| Self::missing(name, "scaled identity shortcut"))?;
        Ok(Diagonal::new(w, vec![0.0; N])?)
    }

    fn pool<const N: usize>(&mut self, name: &str) -> Result<SpatialSum<N>> {
        let l = self
            .pool
            .remove(name)
            .ok_or_else(|| Self::missing(name, "global pooling"))?;
        Ok(SpatialSum::new(l)?)
    }

    /// Errors if the program has layers the DSL model does not use.
    fn finish(self) -> Result<()> {
        let left: Vec<&String> = self
            .linear
            .keys()
            .chain(self.diagonal.keys())
            .chain(self.pool.keys())
            .collect();
        if !left.is_empty() {
            bail!("these weights have layers the DSL ResNet-20 does not: {left:?}");
        }
        Ok(())
    }
}

impl Engine for Capture {
    type T = ();
    fn level(&self, _: &()) -> usize {
        // levels are the macro's business: never ask for a bootstrap here
        usize::MAX
    }
    fn linear(
        &mut self,
        name: &str,
        _: &(),
        m: &PackedLinear,
        bias: &[f64],
        _: Option<usize>,
    ) -> Result<()> {
        self.linear
            .insert(name.to_string(), (m.clone(), bias.to_vec()));
        Ok(())
    }
    fn add_scaled(&mut self, name: &str, _: &(), _: &(), mult: &[f64]) -> Result<()> {
        self.diagonal.insert(name.to_string(), mult.to_vec());
        Ok(())
    }
    fn add(&mut self, _: &str, _: &(), _: &()) -> Result<()> {
        Ok(())
    }
    fn square(&mut self, _: &str, _: &()) -> Result<()> {
        Ok(())
    }
    fn bootstrap(&mut self, _: &str, _: &()) -> Result<()> {
        Ok(())
    }
    fn spatial_sum(&mut self, name: &str, _: &(), layout: &Layout) -> Result<()> {
        self.pool.insert(name.to_string(), *layout);
        Ok(())
    }
}

/// The name the hand-compiled [`Program`] gives the value the DSL model calls `value`
/// (`op` is the step's layer or operation), for comparing the two layer by layer; `None`
/// for values the program does not name (the identity shortcut's scaled input).
pub fn program_name(value: &str, op: &str) -> Option<String> {
    if op.starts_with("bootstrap") {
        // the value bootstrapped is the output of block k, the input of block k + 1
        let k: usize = value.strip_prefix('b')?.strip_suffix("_y")?.parse().ok()?;
        return Some(format!("bootstrap before block{}", k + 1));
    }
    match value {
        "z0" => return Some("conv0".into()),
        "y0" => return Some("act0".into()),
        "pooled" => return Some("pool".into()),
        "logits" => return Some("fc".into()),
        _ => {}
    }
    let (block, part) = value.strip_prefix('b')?.split_once('_')?;
    let k: usize = block.parse().ok()?;
    let layer = match part {
        "z1" => "conv1",
        "a1" => "act1",
        "m" => "conv2",
        "y" => "act2",
        "s" if op.ends_with("_down") => "down",
        "p" if matches!(k, 3 | 6) => "add",
        "p" => "shortcut",
        _ => return None,
    };
    Some(format!("block{k}.{layer}"))
}
