// Hand-written: a layer of the wrong width, and an activation where a dense layer goes.
use fhe_dsl::backend::Backend;
use fhe_dsl::ckks::Evaluator;
use fhe_dsl::typed::{Dense, EncVector, Poly};

fn f<B: Backend>(ev: &Evaluator<B>, x: EncVector<B, 4, 3>, w8: &Dense<8>, act: &Poly<2>)
    -> fhe_dsl::Result<()>
{
    let _a = x.dense(w8, ev)?;
    let _b = x.dense(act, ev)?;
    Ok(())
}

fn main() {
    let _ = f::<fhe_dsl::backend::reference::ReferenceBackend>;
}
