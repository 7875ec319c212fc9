package client

import "github.com/metald/metald-client/go/metald"

// offline runs the component's offline exports (templates, builder, validation, config
// files). Its host has no network: a call that reached wasi:http would trap, and the
// instance would be replaced.
var offline = newPool(func() metald.Host { return noNetwork{} })

// noNetwork implements no import: the offline exports never call one.
type noNetwork struct{ metald.Host }
