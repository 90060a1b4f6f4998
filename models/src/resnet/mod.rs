pub mod data;
pub mod dsl;
pub mod fold;
pub mod planning;
pub mod reference;
pub mod weights;
