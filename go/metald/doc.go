// Package metald runs the metald component (embedded, or one given) on wazero: it extracts
// the component's main core module, checks its imports and exports against the bindings
// generated from wit/ (bindings.go, by tools/witgen), and links the host functions of its
// imports.
//
// bindings.go holds the WIT types as Go types, the canonical-ABI descriptors the engine in
// go/cabi lifts and lowers with, typed wrappers of every export (Exports), and the Host
// interface a transport implements for the wasi:http, wasi:io and wasi:clocks imports.
// Regenerate it with `cargo run -p metald-witgen -- go`.
//
// An Instance runs one call at a time; make one per goroutine, or use go/client, which
// pools them.
package metald
