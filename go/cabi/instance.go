package cabi

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/tetratelabs/wazero/api"
)

// ErrPoisoned is returned by calls on an instance that trapped before: its memory may hold
// a half-finished call, so it must be replaced.
var ErrPoisoned = errors.New("the instance trapped earlier and cannot be used again")

// TrapError is a trap of the guest, or a host-side failure that ended the call as one
// (invalid values from the guest). The instance is poisoned afterwards.
type TrapError struct {
	// Func is the export that was running.
	Func string
	// Cause is what wazero (or the engine) reported.
	Cause error
}

func (e *TrapError) Error() string {
	return fmt.Sprintf("the component trapped in %s: %v", e.Func, e.Cause)
}
func (e *TrapError) Unwrap() error { return e.Cause }

// Instance is one instantiated core module with the canonical-ABI state around it: the
// table of exported-resource handles and the host's state for its imports. It runs one call
// at a time.
type Instance struct {
	// Host is the value the import glue dispatches to (go/metald's Host interface).
	Host any

	mod      api.Module
	mem      api.Memory
	realloc  api.Function
	funcs    map[*Func]api.Function
	posts    map[*Func]api.Function
	exported map[*Resource]*handleTable
	poisoned bool
	flat     []uint64
	// ctx is the context of the export call in progress (for cabi_realloc calls).
	ctx context.Context
}

type handleTable struct {
	reps []uint32 // index = handle; 0 means free
	free []uint32
}

type ctxKey struct{}

// NewInstance wraps an instantiated module. host receives the module's imports.
func NewInstance(mod api.Module, host any) (*Instance, error) {
	c := &Instance{
		Host:     host,
		mod:      mod,
		mem:      mod.Memory(),
		realloc:  mod.ExportedFunction("cabi_realloc"),
		funcs:    map[*Func]api.Function{},
		posts:    map[*Func]api.Function{},
		exported: map[*Resource]*handleTable{},
	}
	if c.mem == nil || c.realloc == nil {
		return nil, errors.New("the core module exports no memory or no cabi_realloc")
	}
	return c, nil
}

// FromContext returns the instance whose export call is running; import glue uses it.
func FromContext(ctx context.Context) (*Instance, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Instance)
	return c, ok
}

// Module is the underlying wazero module.
func (c *Instance) Module() api.Module { return c.mod }

// Poisoned reports whether the instance trapped and must be replaced.
func (c *Instance) Poisoned() bool { return c.poisoned }

// ExportedHandles counts the live handles of exported resources, for leak checks: a
// resource returned to the host is held as a rep, so this is 0 between calls.
func (c *Instance) ExportedHandles() int {
	n := 0
	for _, t := range c.exported {
		n += len(t.reps) - 1 - len(t.free)
	}
	return n
}

func (c *Instance) export(f *Func) (api.Function, error) {
	if fn, ok := c.funcs[f]; ok {
		return fn, nil
	}
	fn := c.mod.ExportedFunction(f.Name)
	if fn == nil {
		return nil, fmt.Errorf("the core module does not export %q", f.Name)
	}
	c.funcs[f] = fn
	if f.PostReturn != "" {
		c.posts[f] = c.mod.ExportedFunction(f.PostReturn)
	}
	return fn, nil
}

// Call runs export f with params (Go values of f.Params, in order) and lifts its result
// into out (a pointer to a Go value of f.Result, or nil when there is none).
func (c *Instance) Call(ctx context.Context, f *Func, params []any, out any) (err error) {
	if c.poisoned {
		return ErrPoisoned
	}
	fn, err := c.export(f)
	if err != nil {
		return err
	}
	if len(params) != len(f.Params) {
		return fmt.Errorf("%s takes %d parameters, got %d", f.Name, len(f.Params), len(params))
	}
	ctx = context.WithValue(ctx, ctxKey{}, c)
	c.ctx = ctx
	defer func() { c.ctx = nil }()
	flat := c.flat[:0]
	if f.IndirectParams {
		l := f.params()
		ptr, err := c.alloc(l.tupleSize, l.tupleAlign)
		if err != nil {
			return err
		}
		for i, p := range params {
			if err := c.store(f.Params[i], ptr+l.tupleOffsets[i], reflect.ValueOf(p)); err != nil {
				return err
			}
		}
		flat = append(flat, uint64(ptr))
	} else {
		for i, p := range params {
			if flat, err = c.lowerFlat(f.Params[i], reflect.ValueOf(p), flat); err != nil {
				return err
			}
		}
	}
	c.flat = flat
	results, err := fn.Call(ctx, flat...)
	if err != nil {
		return c.trap(f, err)
	}
	if f.Result != nil {
		if out == nil {
			return fmt.Errorf("%s has a result: pass a pointer for it", f.Name)
		}
		dst := reflect.ValueOf(out).Elem()
		if f.RetPtr {
			err = c.load(f.Result, uint32(results[0]), dst)
		} else {
			err = c.liftFlat(f.Result, results, dst)
		}
		if err != nil {
			return c.trap(f, err)
		}
	}
	if post := c.posts[f]; post != nil {
		if _, err := post.Call(ctx, results...); err != nil {
			return c.trap(f, err)
		}
	}
	return nil
}

func (c *Instance) trap(f *Func, cause error) error {
	c.poisoned = true
	return &TrapError{Func: f.Name, Cause: cause}
}

// DropExported runs the guest's destructor of an exported resource's rep.
func (c *Instance) DropExported(ctx context.Context, r *Resource, rep uint32) error {
	if c.poisoned {
		return ErrPoisoned
	}
	fn := c.mod.ExportedFunction(r.Dtor)
	if fn == nil {
		return fmt.Errorf("the core module does not export %q", r.Dtor)
	}
	if _, err := fn.Call(context.WithValue(ctx, ctxKey{}, c), uint64(rep)); err != nil {
		c.poisoned = true
		return &TrapError{Func: r.Dtor, Cause: err}
	}
	return nil
}

func (c *Instance) alloc(size, align uint32) (uint32, error) {
	ctx := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	res, err := c.realloc.Call(ctx, 0, 0, uint64(align), uint64(size))
	if err != nil {
		c.poisoned = true
		return 0, &TrapError{Func: "cabi_realloc", Cause: err}
	}
	p := uint32(res[0])
	if p == 0 || uint64(p)+uint64(size) > uint64(c.mem.Size()) {
		c.poisoned = true
		return 0, &TrapError{Func: "cabi_realloc", Cause: fmt.Errorf("returned %#x for %d bytes", p, size)}
	}
	return p, nil
}

// ---- exported-resource handles ------------------------------------------------------------

func (c *Instance) table(r *Resource) *handleTable {
	t := c.exported[r]
	if t == nil {
		t = &handleTable{reps: []uint32{0}}
		c.exported[r] = t
	}
	return t
}

func (c *Instance) newExported(r *Resource, rep uint32) uint32 {
	t := c.table(r)
	if n := len(t.free); n > 0 {
		h := t.free[n-1]
		t.free = t.free[:n-1]
		t.reps[h] = rep
		return h
	}
	t.reps = append(t.reps, rep)
	return uint32(len(t.reps) - 1)
}

func (c *Instance) exportedRep(r *Resource, h uint32) (uint32, error) {
	t := c.table(r)
	if h == 0 || int(h) >= len(t.reps) || t.reps[h] == 0 {
		return 0, fmt.Errorf("no %s handle %d", r.Name, h)
	}
	return t.reps[h], nil
}

func (c *Instance) takeExported(r *Resource, h uint32) (uint32, error) {
	rep, err := c.exportedRep(r, h)
	if err != nil {
		return 0, err
	}
	t := c.table(r)
	t.reps[h] = 0
	t.free = append(t.free, h)
	return rep, nil
}

// Intrinsic runs an exported-resource intrinsic the guest called.
func (c *Instance) Intrinsic(ctx context.Context, r *Resource, which Intrinsic, stack []uint64) error {
	switch which {
	case ResourceNew:
		stack[0] = uint64(c.newExported(r, uint32(stack[0])))
	case ResourceRep:
		rep, err := c.exportedRep(r, uint32(stack[0]))
		if err != nil {
			return err
		}
		stack[0] = uint64(rep)
	case ResourceDrop:
		rep, err := c.takeExported(r, uint32(stack[0]))
		if err != nil {
			return err
		}
		fn := c.mod.ExportedFunction(r.Dtor)
		if fn == nil {
			return fmt.Errorf("the core module does not export %q", r.Dtor)
		}
		if _, err := fn.Call(ctx, uint64(rep)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown intrinsic %d", which)
	}
	return nil
}

// ---- imports ------------------------------------------------------------------------------

// Args gives an import's host function its parameters and takes its result.
type Args struct {
	c     *Instance
	f     *Func
	stack []uint64
}

// NewArgs wraps the wazero stack of a call to import f.
func NewArgs(c *Instance, f *Func, stack []uint64) *Args { return &Args{c: c, f: f, stack: stack} }

// Raw returns core parameter i as an i32.
func (a *Args) Raw(i int) uint32 { return uint32(a.stack[i]) }

// Lift lifts parameter i into dst (a pointer). Invalid values end the call as a trap.
func (a *Args) Lift(i int, dst any) {
	v := reflect.ValueOf(dst).Elem()
	t := a.f.Params[i]
	var err error
	if a.f.IndirectParams {
		err = a.c.load(t, uint32(a.stack[0])+a.f.params().tupleOffsets[i], v)
	} else {
		off := a.f.params().flatOffsets[i]
		err = a.c.liftFlat(t, a.stack[off:off+len(t.Flat)], v)
	}
	if err != nil {
		panic(err)
	}
}

// Return lowers the result (a pointer to a Go value of f.Result) into the return pointer
// or the stack. A value that cannot be lowered ends the call as a trap.
func (a *Args) Return(src any) {
	v := reflect.ValueOf(src).Elem()
	var err error
	if a.f.RetPtr {
		err = a.c.store(a.f.Result, uint32(a.stack[len(a.f.CoreParams)-1]), v)
	} else {
		// The flat result (at most one value) is written over the parameters.
		_, err = a.c.lowerFlat(a.f.Result, v, a.stack[:0])
	}
	if err != nil {
		panic(err)
	}
}

// Memory is the instance's linear memory.
func (c *Instance) Memory() api.Memory { return c.mem }

// Alloc allocates size bytes aligned to align with the guest's cabi_realloc.
func (c *Instance) Alloc(size, align uint32) (uint32, error) { return c.alloc(size, align) }

// Lift reads the value of t stored at ptr into dst (a pointer to a Go value of t).
// Invalid data (a bad discriminant, invalid UTF-8, a pointer outside memory or misaligned)
// is a *LiftError; nothing panics.
func (c *Instance) Lift(t *Type, ptr uint32, dst any) error {
	return c.load(t, ptr, reflect.ValueOf(dst).Elem())
}

// Lower stores src (a Go value of t) at ptr, allocating strings and lists in the guest.
func (c *Instance) Lower(t *Type, ptr uint32, src any) error {
	return c.store(t, ptr, reflect.ValueOf(src))
}
