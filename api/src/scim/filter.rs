//! RFC 7644 §3.4.2.2 filters: parsed into an AST (placeholder; being written).
