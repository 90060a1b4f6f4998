pub mod data;
pub mod dsl;
pub mod fold;
pub mod planning;
pub mod reference;
pub mod torch_ref;
pub mod weights;
