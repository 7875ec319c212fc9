package client

import (
	"github.com/metald/metald-client/go/metald"
	"github.com/metald/metald-client/go/transport"
)

// offline runs the component's offline exports (templates, builder, validation, config
// files, option checks). Its transport allows no destination: a request would be refused
// with HTTP-request-denied (permission_denied), never sent.
var offline = newPool(func() metald.Host { return denyAll.NewHost() })

var denyAll = mustTransport(transport.New(transport.Config{}))

func mustTransport(t *transport.Transport, err error) *transport.Transport {
	if err != nil {
		// transport.New refuses only invalid settings; the zero Config is valid.
		panic("metald client: the deny-all transport: " + err.Error())
	}
	return t
}
