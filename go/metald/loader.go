package metald

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/metald/metald-client/go/cabi"
)

// The binary header of a component (magic, version 0x0d, layer 1) and of a core module.
var (
	componentHeader = []byte{0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00}
	moduleHeader    = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
)

// Section ids of the component binary format (component-model Binary.md) and of core
// modules (WebAssembly core spec, 5.5).
const (
	componentCoreModuleSection = 1
	coreImportSection          = 2
	coreExportSection          = 7
)

// CoreModule is the main core module of a component and what it imports and exports.
type CoreModule struct {
	// Binary is the core module, ready for wazero.
	Binary []byte
	// Imports are the function imports as "module\x00name".
	Imports []string
	// Exports are the export names.
	Exports []string
}

// ExtractCoreModule returns the component's main core module: the one exporting both
// `memory` and `cabi_realloc`. wit-component's other modules (the shim and fixup that break
// the memory/realloc cycle at instantiation) are not needed by a host that reaches the
// module's memory and allocator directly.
func ExtractCoreModule(component []byte) (*CoreModule, error) {
	if !bytes.HasPrefix(component, componentHeader) {
		if bytes.HasPrefix(component, moduleHeader) {
			return nil, errors.New("this is a core module, not a component: build metald-guest for wasm32-wasip2")
		}
		return nil, errors.New("not a WebAssembly component (bad header)")
	}
	r := reader{b: component[len(componentHeader):]}
	for !r.done() {
		id, body, err := r.section()
		if err != nil {
			return nil, fmt.Errorf("component: %w", err)
		}
		if id != componentCoreModuleSection {
			continue
		}
		m, err := readCoreModule(body)
		if err != nil {
			return nil, fmt.Errorf("component: core module: %w", err)
		}
		if contains(m.Exports, "memory") && contains(m.Exports, "cabi_realloc") {
			return m, nil
		}
	}
	return nil, errors.New("the component has no core module exporting memory and cabi_realloc")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func readCoreModule(b []byte) (*CoreModule, error) {
	if !bytes.HasPrefix(b, moduleHeader) {
		return nil, errors.New("bad core module header")
	}
	m := &CoreModule{Binary: b}
	r := reader{b: b[len(moduleHeader):]}
	for !r.done() {
		id, body, err := r.section()
		if err != nil {
			return nil, err
		}
		s := reader{b: body}
		switch id {
		case coreImportSection:
			n, err := s.u32()
			if err != nil {
				return nil, err
			}
			for range n {
				module, err := s.name()
				if err != nil {
					return nil, err
				}
				name, err := s.name()
				if err != nil {
					return nil, err
				}
				kind, err := s.byte()
				if err != nil {
					return nil, err
				}
				if err := s.skipImportDesc(kind); err != nil {
					return nil, err
				}
				if kind == 0 {
					m.Imports = append(m.Imports, module+"\x00"+name)
				}
			}
		case coreExportSection:
			n, err := s.u32()
			if err != nil {
				return nil, err
			}
			for range n {
				name, err := s.name()
				if err != nil {
					return nil, err
				}
				if _, err := s.byte(); err != nil {
					return nil, err
				}
				if _, err := s.u32(); err != nil {
					return nil, err
				}
				m.Exports = append(m.Exports, name)
			}
		}
	}
	return m, nil
}

// CheckCoreModule compares the module with the generated tables: every import must be one
// this package implements with the same core signature, and every generated export must be
// there. A component built from another WIT fails here, before any call.
func CheckCoreModule(m *CoreModule) error {
	known := map[string]*cabi.Func{}
	for _, imp := range Imports {
		known[imp.Func.Module+"\x00"+imp.Func.Name] = imp.Func
	}
	var problems []string
	for _, imp := range m.Imports {
		if _, ok := known[imp]; !ok {
			module, name, _ := strings.Cut(imp, "\x00")
			problems = append(problems, fmt.Sprintf("imports %s#%s, which these bindings do not implement", module, name))
		}
	}
	for _, f := range ExportFuncs {
		if !contains(m.Exports, f.Name) {
			problems = append(problems, fmt.Sprintf("does not export %s", f.Name))
		}
		if f.PostReturn != "" && !contains(m.Exports, f.PostReturn) {
			problems = append(problems, fmt.Sprintf("does not export %s", f.PostReturn))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("the component does not match the bindings generated from wit/ (was it built from another WIT?): the core module %s", strings.Join(problems, "; "))
	}
	return nil
}

// reader reads the LEB128-framed sections of a WebAssembly binary.
type reader struct{ b []byte }

func (r *reader) done() bool { return len(r.b) == 0 }

func (r *reader) byte() (byte, error) {
	if len(r.b) == 0 {
		return 0, errors.New("unexpected end")
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}

func (r *reader) u32() (uint32, error) {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > 0xffffffff {
		return 0, errors.New("bad LEB128 u32")
	}
	r.b = r.b[n:]
	return uint32(v), nil
}

func (r *reader) bytes(n uint32) ([]byte, error) {
	if uint64(n) > uint64(len(r.b)) {
		return nil, fmt.Errorf("%d bytes past the end", uint64(n)-uint64(len(r.b)))
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b, nil
}

func (r *reader) section() (byte, []byte, error) {
	id, err := r.byte()
	if err != nil {
		return 0, nil, err
	}
	size, err := r.u32()
	if err != nil {
		return 0, nil, err
	}
	body, err := r.bytes(size)
	return id, body, err
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(n)
	return string(b), err
}

// skipImportDesc skips an import's type: func (type index), table, memory or global.
func (r *reader) skipImportDesc(kind byte) error {
	limits := func() error {
		flags, err := r.byte()
		if err != nil {
			return err
		}
		if _, err := r.u32(); err != nil {
			return err
		}
		if flags&1 != 0 {
			_, err = r.u32()
		}
		return err
	}
	switch kind {
	case 0: // func: type index
		_, err := r.u32()
		return err
	case 1: // table: reftype, limits
		if _, err := r.byte(); err != nil {
			return err
		}
		return limits()
	case 2: // memory
		return limits()
	case 3: // global: valtype, mutability
		if _, err := r.byte(); err != nil {
			return err
		}
		_, err := r.byte()
		return err
	}
	return fmt.Errorf("unknown import kind %d", kind)
}
