// Package client is the metald client SDK for Go: the Go client's API (config builder,
// templates, config files, validation; client.New and the RPCs) running on the metald
// WebAssembly component through wazero, pure Go, no cgo.
//
// Every operation runs inside the component (go/metald embeds it), so templates,
// validation, config-file rules and the Connect codec are the same code in Go, Rust, JS and
// Python. Code written against the Go client compiles after changing its import line; where
// this package reports an error the Go client swallowed (an unknown template, an
// out-of-range builder value, a config file that cannot hold the config), the chained
// builder keeps the first error for Err, Validate and BuildE.
//
// Everything here is safe for concurrent use: each call takes a component instance of its
// own from a pool, and an instance that trapped is discarded, never reused.
package client
