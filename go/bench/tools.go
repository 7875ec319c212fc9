//go:build tools

// Package bench pins the code generators of gen/ (see generate.sh).
package bench

import (
	_ "connectrpc.com/connect/cmd/protoc-gen-connect-go"
	_ "google.golang.org/protobuf/cmd/protoc-gen-go"
)
