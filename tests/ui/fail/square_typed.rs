// Hand-written: a square needs a value prepared for it, at the level it was prepared for.
use fhe_dsl::backend::Backend;
use fhe_dsl::ckks::Evaluator;
use fhe_dsl::typed::{Diagonal, EncVector, PreSquare};

fn f<B: Backend>(ev: &Evaluator<B>, x: EncVector<B, 4, 4>, bn: &Diagonal<4>)
    -> fhe_dsl::Result<()>
{
    let _a = x.square(ev)?; // a Fresh value: its square would not land on its scale
    let p: EncVector<B, 4, 3, PreSquare<2>> = x.pre_square::<2, _, _>(bn, ev)?;
    let _b = p.square(ev)?; // prepared for level 2, still at 3: `mod_down` first
    Ok(())
}

fn main() {
    let _ = f::<fhe_dsl::backend::reference::ReferenceBackend>;
}
