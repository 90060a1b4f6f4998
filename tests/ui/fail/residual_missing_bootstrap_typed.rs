// The same mistake written by hand: the types catch it without the macro.
use fhe_dsl::backend::Backend;
use fhe_dsl::ckks::Evaluator;
use fhe_dsl::typed::{Bootstrap, Dense, EncVector, Poly};

#[allow(dead_code)]
fn block<B: Backend>(
    ev: &Evaluator<B>,
    bt: &impl Bootstrap<B, 5>,
    x: EncVector<B, 4, 3>,
    c1: &Dense<4>,
    act: &Poly<2>,
    c2: &Dense<4>,
) -> fhe_dsl::Result<EncVector<B, 4, 3>> {
    let h = x.dense(c1, ev)?;
    let a = h.poly(act, ev)?;
    let b = a.bootstrap(bt)?;
    let c = b.dense(c2, ev)?;
    let r = c.mod_down::<0>(ev)?.add(&a, ev)?;
    let y = r.dense(c2, ev)?;
    Ok(y)
}

fn main() {
}
