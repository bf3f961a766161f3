//! The Cairn log engine.

#[allow(dead_code)]
mod state;
