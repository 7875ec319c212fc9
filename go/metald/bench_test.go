package metald

import (
	"context"
	"runtime"
	"testing"

	"github.com/tetratelabs/wazero"
)

// Compiling the main core module with wazero's optimizing compiler, no cache.
func BenchmarkCompileCold(b *testing.B) {
	ctx := context.Background()
	core, err := ExtractCoreModule(Component())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(wazero.NewCompilationCache()))
		if _, err := rt.CompileModule(ctx, core.Binary); err != nil {
			b.Fatal(err)
		}
		_ = rt.Close(ctx)
	}
}

// A new Runtime whose compiled code comes from wazero's file cache (a new process's start).
func BenchmarkCompileFileCache(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	warm, err := NewRuntime(ctx, RuntimeConfig{CacheDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	_ = warm.Close(ctx)
	for b.Loop() {
		rt, err := NewRuntime(ctx, RuntimeConfig{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		_ = rt.Close(ctx)
	}
}

func BenchmarkInstantiate(b *testing.B) {
	ctx := context.Background()
	rt, err := DefaultRuntime(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		inst, err := rt.Instantiate(ctx, noNetwork{})
		if err != nil {
			b.Fatal(err)
		}
		_ = inst.Close(ctx)
	}
}

// Heap held per live instance (1000 held), reported as bytes/instance.
func BenchmarkMemoryPerInstance(b *testing.B) {
	ctx := context.Background()
	rt, err := DefaultRuntime(ctx)
	if err != nil {
		b.Fatal(err)
	}
	const n = 1000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		held := make([]*Instance, 0, n)
		for range n {
			inst, err := rt.Instantiate(ctx, noNetwork{})
			if err != nil {
				b.Fatal(err)
			}
			held = append(held, inst)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n, "bytes/instance")
		for _, inst := range held {
			_ = inst.Close(ctx)
		}
	}
}

// One offline call (template-config of the standard template) on a warm instance.
func BenchmarkTemplateConfigCall(b *testing.B) {
	ctx := context.Background()
	rt, err := DefaultRuntime(ctx)
	if err != nil {
		b.Fatal(err)
	}
	inst, err := rt.Instantiate(ctx, noNetwork{})
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close(ctx)
	for b.Loop() {
		if _, err := inst.TemplatesTemplateConfig(ctx, TemplateStandard); err != nil {
			b.Fatal(err)
		}
	}
}
