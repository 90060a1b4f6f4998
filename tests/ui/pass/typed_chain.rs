// Hand-written typed code that spends exactly the levels it has.
use fhe_dsl::backend::Backend;
use fhe_dsl::ckks::Evaluator;
use fhe_dsl::typed::{Bootstrap, Ct, Dense, EncVector, Owed, Poly};

fn chain<B: Backend>(ev: &Evaluator<B>, x: Ct<B, 2>) -> fhe_dsl::Result<Ct<B, 0>> {
    let p: Ct<B, 2, Owed> = x.mul(&x, ev)?;
    let q: Ct<B, 1> = p.rescale(ev)?;
    let r: Ct<B, 1> = q.add(&x.mod_down::<1>(ev)?, ev)?;
    r.mul_const(2.0, ev)?.rescale(ev)
}

#[allow(dead_code)]
fn block<B: Backend>(
    ev: &Evaluator<B>,
    bt: &impl Bootstrap<B, 5>,
    x: EncVector<B, 4, 3>,
    fc: &Dense<4>,
    act: &Poly<2>,
) -> fhe_dsl::Result<EncVector<B, 4, 2>> {
    let a: EncVector<B, 4, 0> = x.dense(fc, ev)?.poly(act, ev)?;
    let b: EncVector<B, 4, 5> = a.bootstrap(bt)?;
    let c: EncVector<B, 4, 2> = b.dense(fc, ev)?.poly(act, ev)?;
    c.add(&b.mod_down::<2>(ev)?, ev)
}

fn main() {
    let _ = chain::<fhe_dsl::backend::reference::ReferenceBackend>;
}
