// Hand-written typed code: multiplying and rescaling a value that has no levels left.
use fhe_dsl::backend::Backend;
use fhe_dsl::ckks::Evaluator;
use fhe_dsl::typed::{Ct, Owed};

fn square_twice<B: Backend>(ev: &Evaluator<B>, x: Ct<B, 1>) -> fhe_dsl::Result<()> {
    let y: Ct<B, 0> = x.mul(&x, ev)?.rescale(ev)?;
    let _z = y.mul(&y, ev)?;
    Ok(())
}

fn rescale_owed_at_zero<B: Backend>(ev: &Evaluator<B>, p: Ct<B, 0, Owed>) {
    let _ = p.rescale(ev);
}

fn main() {
    let _ = square_twice::<fhe_dsl::backend::reference::ReferenceBackend>;
    let _ = rescale_owed_at_zero::<fhe_dsl::backend::reference::ReferenceBackend>;
}
