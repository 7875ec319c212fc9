package client

import (
	"context"
	"errors"
	"sync"

	"github.com/metald/metald-client/go/metald"
)

// maxIdle bounds the idle instances a pool keeps; more are made on demand and closed when
// returned. 64 KiB-page memories start at ~1.1 MiB each, so this caps idle memory.
const maxIdle = 16

// pool hands out component instances to one goroutine at a time: a wazero instance runs one
// call at a time, so concurrent callers each get their own. An instance that trapped is
// closed, never reused.
type pool struct {
	newHost func() metald.Host
	mu      sync.Mutex
	idle    []*pooled
	closed  bool
}

type pooled struct {
	inst *metald.Instance
	host metald.Host
	// client is the component's client resource opened on inst by the last call, kept
	// for the next call with the same timeout (the options are otherwise fixed per pool).
	client    *metald.Client
	timeoutMs uint32
}

// closer is implemented by hosts that hold resources (connections, bodies).
type closer interface{ Close() }

func newPool(newHost func() metald.Host) *pool { return &pool{newHost: newHost} }

var errClosed = errors.New("metald client: closed")

func (p *pool) get(ctx context.Context) (*pooled, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errClosed
	}
	if n := len(p.idle); n > 0 {
		it := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return it, nil
	}
	p.mu.Unlock()
	rt, err := metald.DefaultRuntime(ctx)
	if err != nil {
		return nil, err
	}
	host := p.newHost()
	inst, err := rt.Instantiate(context.WithoutCancel(ctx), host)
	if err != nil {
		return nil, err
	}
	return &pooled{inst: inst, host: host}, nil
}

func (p *pool) put(it *pooled) {
	if !it.inst.C.Poisoned() {
		p.mu.Lock()
		if !p.closed && len(p.idle) < maxIdle {
			p.idle = append(p.idle, it)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	discard(it)
}

func discard(it *pooled) {
	if c, ok := it.host.(closer); ok {
		c.Close()
	}
	_ = it.inst.Close(context.Background())
}

// do runs fn on an instance of its own; a trap inside fn replaces the instance.
func (p *pool) do(ctx context.Context, fn func(x metald.Exports) error) error {
	it, err := p.get(ctx)
	if err != nil {
		return err
	}
	defer p.put(it)
	return fn(it.inst.Exports)
}

// doClient runs fn with a client resource opened with options on an instance of its own.
// The resource stays open on the instance for the next call whose options.TimeoutMs is the
// same, so calls under Config.Timeout alone do not open and drop one each; a call with
// another timeout (a context deadline) opens a new one. A trap inside fn replaces the
// instance, and its client with it.
func (p *pool) doClient(ctx context.Context, options metald.ClientOptions, fn func(g *metald.Client) error) error {
	it, err := p.get(ctx)
	if err != nil {
		return err
	}
	defer p.put(it)
	timeout := uint32(0)
	if options.TimeoutMs != nil {
		timeout = *options.TimeoutMs
	}
	if it.client != nil && it.timeoutMs != timeout {
		old := it.client
		it.client = nil
		if err := old.Drop(ctx); err != nil {
			return err
		}
	}
	if it.client == nil {
		g, err := it.inst.Exports.ClientOpen(ctx, options)
		if err != nil {
			return err
		}
		it.client, it.timeoutMs = g, timeout
	}
	return fn(it.client)
}

// close discards the idle instances; instances in use are discarded when returned.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, it := range idle {
		discard(it)
	}
}
