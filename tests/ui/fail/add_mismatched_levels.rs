// Hand-written typed code, no macro: adding values at different levels.
use fhe_dsl::backend::Backend;
use fhe_dsl::ckks::Evaluator;
use fhe_dsl::typed::Ct;

fn residual<B: Backend>(ev: &Evaluator<B>, x: Ct<B, 3>) -> fhe_dsl::Result<Ct<B, 2>> {
    let h: Ct<B, 2> = x.mul_const(0.5, ev)?.rescale(ev)?;
    h.add(&x, ev) // x is still at level 3
}

fn main() {
    let _ = residual::<fhe_dsl::backend::reference::ReferenceBackend>;
}
