pub mod data;
pub mod dsl;
pub mod encrypted;
pub mod program;
pub mod reference;
pub mod torch_ref;
pub mod weights;
