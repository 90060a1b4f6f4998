pub mod data;
pub mod encrypted;
pub mod program;
pub mod reference;
pub mod weights;
