package metald

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/metald/metald-client/go/cabi"
)

// componentBytes is the metald component (guest/, built by scripts/build-component.sh, which
// refreshes this copy). scripts/test.sh checks that it is byte-identical to a fresh build
// (scripts/build-component.sh --check).
//
//go:embed metald_guest.wasm
var componentBytes []byte

// Component returns the embedded component binary.
func Component() []byte { return componentBytes }

// DefaultMemoryLimitPages caps a guest's linear memory at 64 MiB (1024 pages of 64 KiB),
// the same limit the Rust host applies.
const DefaultMemoryLimitPages = 1024

// RuntimeConfig configures a Runtime. The zero value is ready to use.
type RuntimeConfig struct {
	// Component replaces the embedded component (for tests and custom builds). It must be
	// built from the same WIT; Runtime checks it.
	Component []byte
	// CacheDir keeps wazero's compiled code on disk so a new process skips compilation.
	// Empty: the METALD_GO_CACHE_DIR environment variable, else in memory only (shared by
	// every Runtime of the process).
	CacheDir string
	// MemoryLimitPages caps each instance's memory (64 KiB pages). Default 1024 (64 MiB).
	MemoryLimitPages uint32
}

// Runtime holds the compiled component. It is safe for concurrent use; instances made from
// it are not.
type Runtime struct {
	rt       wazero.Runtime
	compiled wazero.CompiledModule
}

var processCache = wazero.NewCompilationCache()

// NewRuntime compiles the component's main core module (or takes it from the cache) and
// links the host functions of its imports.
func NewRuntime(ctx context.Context, cfg RuntimeConfig) (*Runtime, error) {
	component := cfg.Component
	if component == nil {
		component = componentBytes
	}
	core, err := ExtractCoreModule(component)
	if err != nil {
		return nil, err
	}
	if err := CheckCoreModule(core); err != nil {
		return nil, err
	}
	cache := processCache
	dir := cfg.CacheDir
	if dir == "" {
		dir = os.Getenv("METALD_GO_CACHE_DIR")
	}
	if dir != "" {
		if cache, err = wazero.NewCompilationCacheWithDir(dir); err != nil {
			return nil, fmt.Errorf("compilation cache %s: %w", dir, err)
		}
	}
	pages := cfg.MemoryLimitPages
	if pages == 0 {
		pages = DefaultMemoryLimitPages
	}
	rc := wazero.NewRuntimeConfig().
		WithCoreFeatures(api.CoreFeaturesV2).
		WithMemoryLimitPages(pages).
		WithCompilationCache(cache).
		WithCloseOnContextDone(true)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if err := linkImports(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	compiled, err := rt.CompileModule(ctx, core.Binary)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("compiling the component's core module: %w", err)
	}
	return &Runtime{rt: rt, compiled: compiled}, nil
}

var (
	defaultOnce    sync.Once
	defaultRuntime *Runtime
	defaultErr     error
)

// DefaultRuntime is the process's shared Runtime of the embedded component, made on first
// use: the module is compiled once per process.
func DefaultRuntime(ctx context.Context) (*Runtime, error) {
	defaultOnce.Do(func() {
		defaultRuntime, defaultErr = NewRuntime(context.WithoutCancel(ctx), RuntimeConfig{})
	})
	return defaultRuntime, defaultErr
}

// Close releases the runtime and every instance made from it.
func (r *Runtime) Close(ctx context.Context) error { return r.rt.Close(ctx) }

// linkImports instantiates one host module per import module; host functions find the
// calling instance in the context of the export call.
func linkImports(ctx context.Context, rt wazero.Runtime) error {
	byModule := map[string]wazero.HostModuleBuilder{}
	var order []string
	for _, imp := range Imports {
		b, ok := byModule[imp.Func.Module]
		if !ok {
			b = rt.NewHostModuleBuilder(imp.Func.Module)
			byModule[imp.Func.Module] = b
			order = append(order, imp.Func.Module)
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(hostFunction(imp), valueTypes(imp.Func.CoreParams), valueTypes(imp.Func.CoreResults)).
			Export(imp.Func.Name)
	}
	for _, m := range order {
		if _, err := byModule[m].Instantiate(ctx); err != nil {
			return fmt.Errorf("linking %s: %w", m, err)
		}
	}
	return nil
}

func hostFunction(imp cabi.Import) api.GoModuleFunc {
	return func(ctx context.Context, _ api.Module, stack []uint64) {
		c, ok := cabi.FromContext(ctx)
		if !ok {
			panic(errors.New("a host function ran outside a call through metald.Exports"))
		}
		if imp.Intrinsic != cabi.NotIntrinsic {
			if err := c.Intrinsic(ctx, imp.Resource, imp.Intrinsic, stack); err != nil {
				panic(err)
			}
			return
		}
		imp.Host(ctx, c, cabi.NewArgs(c, imp.Func, stack))
	}
}

func valueTypes(flat []cabi.FlatType) []api.ValueType {
	out := make([]api.ValueType, len(flat))
	for i, f := range flat {
		switch f {
		case cabi.FlatI32:
			out[i] = api.ValueTypeI32
		case cabi.FlatI64:
			out[i] = api.ValueTypeI64
		case cabi.FlatF32:
			out[i] = api.ValueTypeF32
		case cabi.FlatF64:
			out[i] = api.ValueTypeF64
		}
	}
	return out
}

// Instance is one instance of the component. It runs one call at a time.
type Instance struct {
	Exports
	mod api.Module
}

// Instantiate makes a fresh instance whose imports are served by host.
func (r *Runtime) Instantiate(ctx context.Context, host Host) (*Instance, error) {
	mod, err := r.rt.InstantiateModule(ctx, r.compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return nil, fmt.Errorf("instantiating the component: %w", err)
	}
	c, err := cabi.NewInstance(mod, host)
	if err != nil {
		_ = mod.Close(ctx)
		return nil, err
	}
	return &Instance{Exports: Exports{C: c}, mod: mod}, nil
}

// Close releases the instance's memory.
func (i *Instance) Close(ctx context.Context) error { return i.mod.Close(ctx) }
