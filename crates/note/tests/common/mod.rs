//! Loaders for the vectors in `testdata/` (copied from the project's interoperability
//! digest so the crate tests stand alone).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use cairn_note::NoteError;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

pub fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(path(name)).unwrap_or_else(|e| panic!("testdata/{name}: {e}"))
}

pub fn text(name: &str) -> String {
    String::from_utf8(bytes(name)).expect("testdata is UTF-8")
}

/// Non-comment lines of a testdata file.
pub fn lines(name: &str) -> Vec<String> {
    text(name)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// `<label> <value>` files.
pub fn table(name: &str) -> HashMap<String, String> {
    lines(name)
        .into_iter()
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("label and value");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

pub fn keys() -> HashMap<String, String> {
    table("keys.txt")
}

pub fn hex32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// Expands the `\n` and `\r` escapes used in tab-separated vector files.
pub fn unescape(s: &str) -> String {
    s.replace("\\n", "\n").replace("\\r", "\r")
}

/// The variant name of an error, to compare with the names recorded in vector files.
pub fn kind(e: &NoteError) -> String {
    format!("{e:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// The single-byte changes applied at every position by the mutation tests: three xor
/// masks and an increment. The increment matters for base64: it turns e.g. `M` into `N`,
/// which differ only in the low bit of their 6-bit value, so a final character's unused
/// bits change while a lax decoder would still return the same bytes.
pub const MUTATIONS: [fn(u8) -> u8; 4] = [
    |b| b ^ 0x01,
    |b| b ^ 0x20,
    |b| b ^ 0xff,
    |b| b.wrapping_add(1),
];
