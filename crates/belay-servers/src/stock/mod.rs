//! The `stock` server (placeholder; being written).
