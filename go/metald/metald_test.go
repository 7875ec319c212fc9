package metald

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/metald/metald-client/go/cabi"
)

// noNetwork implements no import; offline exports never call one, and a call that does
// panics inside the host function, which ends the export call as a trap.
type noNetwork struct{ Host }

// offlineInstance is a fresh instance of the embedded component whose imports are
// noNetwork, closed when the test ends.
func offlineInstance(t *testing.T) *Instance {
	t.Helper()
	ctx := context.Background()
	rt, err := DefaultRuntime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := rt.Instantiate(ctx, noNetwork{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Close(ctx) })
	return inst
}

func TestTheEmbeddedComponentMatchesTheBindings(t *testing.T) {
	core, err := ExtractCoreModule(Component())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckCoreModule(core); err != nil {
		t.Fatal(err)
	}
	// The generator emits glue only for what the module imports, exported-resource
	// intrinsics included.
	imported := map[string]bool{}
	for _, i := range core.Imports {
		imported[i] = true
	}
	for _, imp := range Imports {
		if !imported[imp.Func.Module+"\x00"+imp.Func.Name] {
			t.Errorf("glue for %s#%s, which the module does not import", imp.Func.Module, imp.Func.Name)
		}
	}
}

func TestAComponentFromAnotherWitIsRefusedWithTheMismatch(t *testing.T) {
	core, err := ExtractCoreModule(Component())
	if err != nil {
		t.Fatal(err)
	}
	other := *core
	other.Imports = append([]string{"wasi:filesystem/types@0.2.12\x00[method]descriptor.read"}, core.Imports...)
	other.Exports = core.Exports[:0:0]
	for _, e := range core.Exports {
		if e != "metald:client/templates@0.1.0#template-config" {
			other.Exports = append(other.Exports, e)
		}
	}
	err = CheckCoreModule(&other)
	if err == nil || !strings.Contains(err.Error(), "descriptor.read") || !strings.Contains(err.Error(), "template-config") {
		t.Fatalf("mismatch not reported: %v", err)
	}
	if _, err := ExtractCoreModule(core.Binary); err == nil || !strings.Contains(err.Error(), "core module, not a component") {
		t.Fatalf("core module accepted as a component: %v", err)
	}
	if _, err := ExtractCoreModule([]byte("not wasm")); err == nil {
		t.Fatal("garbage accepted")
	}
	if _, err := NewRuntime(context.Background(), RuntimeConfig{Component: Component()[:1000]}); err == nil {
		t.Fatal("a truncated component was accepted")
	}
}

func TestResourcesLeaveNoHandlesBehind(t *testing.T) {
	ctx := context.Background()
	inst := offlineInstance(t)
	for range 100 {
		b, err := inst.VmConfigBuilderFromTemplate(ctx, TemplateStandard)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.AddMetadata(ctx, "k", "v"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Build(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.Drop(ctx); err != nil {
			t.Fatal(err)
		}
		c, err := inst.ClientOpen(ctx, ClientOptions{Server: "http://127.0.0.1:1", UserId: "u", TenantId: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Drop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := inst.C.ExportedHandles(); n != 0 {
		t.Fatalf("%d exported-resource handles left", n)
	}
}

func TestATrapPoisonsOnlyItsInstance(t *testing.T) {
	ctx := context.Background()
	rt, err := NewRuntime(ctx, RuntimeConfig{MemoryLimitPages: 40})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	inst, err := rt.Instantiate(ctx, noNetwork{})
	if err != nil {
		t.Fatal(err)
	}
	// 4 MiB of JSON cannot fit in a 2.5 MiB memory: the guest's allocator fails and traps.
	_, err = inst.ConfigFileParseConfigFile(ctx, `{"name":"`+strings.Repeat("x", 4<<20)+`"}`)
	var trap *cabi.TrapError
	if !errors.As(err, &trap) {
		t.Fatalf("want a trap, got %v", err)
	}
	if _, err := inst.TemplatesTemplateConfig(ctx, TemplateMinimal); !errors.Is(err, cabi.ErrPoisoned) {
		t.Fatalf("a trapped instance was used again: %v", err)
	}
	fresh, err := rt.Instantiate(ctx, noNetwork{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.TemplatesTemplateConfig(ctx, TemplateMinimal); err != nil {
		t.Fatalf("a fresh instance after a trap: %v", err)
	}
}

func TestAnImportPanicIsATrapNotACrash(t *testing.T) {
	ctx := context.Background()
	inst := offlineInstance(t)
	c, err := inst.ClientOpen(ctx, ClientOptions{Server: "http://127.0.0.1:1", UserId: "u", TenantId: "t"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetVmInfo(ctx, "ud-0123456789abcdef")
	var trap *cabi.TrapError
	if !errors.As(err, &trap) || !inst.C.Poisoned() {
		t.Fatalf("want a trap, got %v", err)
	}
}

func TestInstancesRunConcurrently(t *testing.T) {
	ctx := context.Background()
	rt, err := DefaultRuntime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			inst, err := rt.Instantiate(ctx, noNetwork{})
			if err != nil {
				errs <- err
				return
			}
			defer inst.Close(ctx)
			for i := range 50 {
				tmpl := Template((g + i) % 5)
				cfg, err := inst.TemplatesTemplateConfig(ctx, tmpl)
				if err != nil {
					errs <- err
					return
				}
				name, _ := inst.TemplatesTemplateName(ctx, tmpl)
				if cfg.Metadata["template"] != name {
					errs <- errors.New("wrong template " + name)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
