package cabi_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/metald/metald-client/go/cabi"
	"github.com/metald/metald-client/go/metald"
)

// The generator takes layouts from wit-parser; CheckLayout recomputes them from the
// canonical ABI's rules. Both must agree for every type of the world.
func TestEveryGeneratedLayoutMatchesTheCanonicalABI(t *testing.T) {
	if len(metald.Types) < 100 {
		t.Fatalf("only %d type descriptors", len(metald.Types))
	}
	for _, ti := range metald.Types {
		if err := cabi.CheckLayout(ti.Type); err != nil {
			t.Error(err)
		}
	}
}

// The Go types the generator emits have the shape the engine assumes for each kind.
func TestGoTypesHaveTheShapeOfTheirDescriptors(t *testing.T) {
	for _, ti := range metald.Types {
		typ := reflect.TypeOf(ti.Zero()).Elem()
		d := ti.Type
		switch d.Kind {
		case cabi.KindRecord, cabi.KindTuple:
			if typ.Kind() != reflect.Struct || typ.NumField() != len(d.Fields) {
				t.Errorf("%s: Go %v has %d fields, WIT %d", d.Name, typ, typ.NumField(), len(d.Fields))
			}
		case cabi.KindVariant:
			for _, c := range d.Cases {
				if c.Type != nil && (c.GoField <= 0 || c.GoField >= typ.NumField()) {
					t.Errorf("%s: case %s has Go field %d of %d", d.Name, c.Name, c.GoField, typ.NumField())
				}
			}
		case cabi.KindOption:
			if typ.Kind() != reflect.Pointer {
				t.Errorf("%s: Go %v is not a pointer", d.Name, typ)
			}
		case cabi.KindList:
			want := reflect.Slice
			if d.GoMap {
				want = reflect.Map
			}
			if typ.Kind() != want {
				t.Errorf("%s: Go %v is not a %v", d.Name, typ, want)
			}
		case cabi.KindEnum:
			if typ.Kind() != reflect.Uint8 {
				t.Errorf("%s: Go %v is not uint8", d.Name, typ)
			}
		}
	}
}

type noHost struct{ metald.Host }

func instance(t *testing.T) *metald.Instance {
	t.Helper()
	ctx := context.Background()
	rt, err := metald.DefaultRuntime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := rt.Instantiate(ctx, noHost{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Close(ctx) })
	return inst
}

func descriptor(t *testing.T, name string) *cabi.Type {
	for _, ti := range metald.Types {
		if ti.Type.Name == name {
			return ti.Type
		}
	}
	t.Fatalf("no descriptor %q", name)
	return nil
}

func TestValuesRoundTripThroughGuestMemory(t *testing.T) {
	inst := instance(t)
	ctx := context.Background()
	cfg, err := inst.TemplatesTemplateConfig(ctx, metald.TemplateDevelopment)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metadata["ünïcode"] = "✓"
	cfg.Network[0].RxRateLimit = &metald.RateLimit{Bandwidth: -1, RefillTime: 1 << 40, Burst: 7}
	d := descriptor(t, "vm-config")
	c := inst.C
	p, err := c.Alloc(d.Size, d.Align)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Lower(d, p, cfg); err != nil {
		t.Fatal(err)
	}
	var back metald.VmConfig
	if err := c.Lift(d, p, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Fatalf("round trip changed the value:\n%+v\n%+v", back, cfg)
	}
	var e metald.Error
	errD := descriptor(t, "error")
	in := metald.Error{Tag: metald.ErrorTagConnect, Connect: metald.ConnectError{Code: metald.ErrorCodeNotFound, Message: "m", Details: []metald.ErrorDetail{{TypeName: "x", Value: []byte{0, 1, 255}}}, HttpStatus: 404}}
	p, _ = c.Alloc(errD.Size, errD.Align)
	if err := c.Lower(errD, p, in); err != nil {
		t.Fatal(err)
	}
	if err := c.Lift(errD, p, &e); err != nil || !reflect.DeepEqual(e, in) {
		t.Fatalf("error variant: %+v %v", e, err)
	}
}

func TestInvalidGuestDataIsALiftErrorNeverAPanic(t *testing.T) {
	inst := instance(t)
	c := inst.C
	mem := c.Memory()
	p, err := c.Alloc(64, 8)
	if err != nil {
		t.Fatal(err)
	}
	str := cabi.String
	template := descriptor(t, "template")
	errD := descriptor(t, "error")
	opt := descriptor(t, "option<cpu-topology>")
	cases := []struct {
		name  string
		setup func()
		typ   *cabi.Type
		ptr   uint32
		dst   any
	}{
		{"string not UTF-8", func() { mem.Write(p+16, []byte{0xff, 0xfe}); mem.WriteUint32Le(p, p+16); mem.WriteUint32Le(p+4, 2) }, str, p, new(string)},
		{"string past memory", func() { mem.WriteUint32Le(p, mem.Size()-1); mem.WriteUint32Le(p+4, 2) }, str, p, new(string)},
		{"length overflow", func() { mem.WriteUint32Le(p, 8); mem.WriteUint32Le(p+4, 0xffffffff) }, descriptor(t, "list<storage-device>"), p, new([]metald.StorageDevice)},
		{"enum case out of range", func() { mem.WriteByte(p, 9) }, template, p, new(metald.Template)},
		{"variant case out of range", func() { mem.WriteByte(p, 4) }, errD, p, new(metald.Error)},
		{"option discriminant 2", func() { mem.WriteByte(p, 2) }, opt, p, new(*metald.CpuTopology)},
		{"misaligned record", func() {}, errD, p + 1, new(metald.Error)},
		{"record past memory", func() {}, errD, mem.Size() - 4, new(metald.Error)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem.Write(p, make([]byte, 64))
			tc.setup()
			err := c.Lift(tc.typ, tc.ptr, tc.dst)
			var le *cabi.LiftError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a *cabi.LiftError", err)
			}
		})
	}
}

func TestInvalidGoValuesAreALowerError(t *testing.T) {
	inst := instance(t)
	c := inst.C
	p, _ := c.Alloc(64, 8)
	var le *cabi.LowerError
	if err := c.Lower(descriptor(t, "template"), p, metald.Template(7)); !errors.As(err, &le) {
		t.Fatalf("enum 7: %v", err)
	}
	if err := c.Lower(descriptor(t, "vm-state"), p, metald.VmState{Tag: 9}); !errors.As(err, &le) {
		t.Fatalf("open enum tag 9: %v", err)
	}
	if err := c.Lower(descriptor(t, "error"), p, metald.Error{Tag: 9}); !errors.As(err, &le) {
		t.Fatalf("variant tag 9: %v", err)
	}
	if err := c.Lower(cabi.String, p, "\xff"); !errors.As(err, &le) {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	if err := c.Lower(cabi.Char, p, rune(0xD800)); !errors.As(err, &le) {
		t.Fatalf("surrogate: %v", err)
	}
}
