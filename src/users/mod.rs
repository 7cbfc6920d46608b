//! People: user profiles as documents (the users module of the spec).

pub mod document;
pub mod geo;
pub mod technician;
