// A typed convolution at level 0 does not compile: it needs a level to rescale by.
use fhe_dsl::backend::Backend;
use fhe_dsl::ckks::Evaluator;
use fhe_dsl::typed::{Conv, EncVector};

#[allow(dead_code)]
fn late_conv<B: Backend>(
    ev: &Evaluator<B>,
    x: EncVector<B, 16, 0>,
    conv: &Conv<16>,
) -> fhe_dsl::Result<()> {
    let _y = x.conv(conv, ev)?;
    Ok(())
}

fn main() {}
