//! RFC 7644 §3.5.2 PATCH (placeholder; being written).
