//! Tests of the stock server.
