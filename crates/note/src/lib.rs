//! C2SP signed notes, checkpoints and cosignatures (work in progress).
