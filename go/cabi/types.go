// Package cabi is a canonical-ABI engine for hosts without the WebAssembly component model:
// it lifts and lowers WIT values between Go and a core module's linear memory, following
// the component model's CanonicalABI.md (WebAssembly/component-model), driven by type
// descriptors that metald-witgen generates from wit/ (go/metald/bindings.go).
//
// Go mapping of WIT values: bool, integers, floats, char (rune) and string map to the Go
// types of the same meaning; list<T> → []T (or map[string]V for descriptors with GoMap);
// record → struct (fields in order); tuple → TupleN; option<T> → *T; result<T, E> →
// Result[T, E]; enum and flags → unsigned integers; variant → struct whose field 0 is the
// tag and whose payload cases have one field each (Case.GoField); own/borrow handles → uint32.
package cabi

import (
	"context"
	"fmt"
	"sync"
)

// Kind is the shape of a WIT type.
type Kind uint8

// Kinds of WIT types.
const (
	KindBool Kind = iota
	KindU8
	KindS8
	KindU16
	KindS16
	KindU32
	KindS32
	KindU64
	KindS64
	KindF32
	KindF64
	KindChar
	KindString
	KindList
	KindRecord
	KindTuple
	KindVariant
	KindEnum
	KindOption
	KindResult
	KindFlags
	KindOwn
	KindBorrow
)

// FlatType is a core-wasm value type of a flattened value.
type FlatType uint8

// Core value types.
const (
	FlatI32 FlatType = iota
	FlatI64
	FlatF32
	FlatF64
)

// Type describes a WIT type and its canonical-ABI layout.
type Type struct {
	// Name is the WIT spelling (`vm-config`, `option<string>`), for errors.
	Name string
	// Kind is the shape.
	Kind Kind
	// Size and Align are the layout in linear memory, in bytes.
	Size, Align uint32
	// Flat lists the flattened core types; nil when there are more than 64.
	Flat []FlatType
	// Elem is the element of a list or the payload of an option.
	Elem *Type
	// Fields are a record's fields or a tuple's elements, with their offsets.
	Fields []Field
	// Cases are a variant's or an enum's cases.
	Cases []Case
	// Ok and Err are a result's payloads (nil for `_`).
	Ok, Err *Type
	// DiscSize is the discriminant size of a variant or enum, in bytes.
	DiscSize uint32
	// PayloadOffset is where a variant's, option's or result's payload starts.
	PayloadOffset uint32
	// FlagCount is the number of flags.
	FlagCount int
	// Resource is the resource of an own or borrow handle.
	Resource *Resource
	// GoMap says a list<tuple<string, V>> maps to a Go map[string]V, lowered in key order.
	GoMap bool
}

// Field is a record field or tuple element.
type Field struct {
	Name   string
	Offset uint32
	Type   *Type
}

// Case is a variant or enum case.
type Case struct {
	Name string
	// Type is the payload type, nil for none.
	Type *Type
	// GoField is the index of the payload's field in the Go struct, -1 for none.
	GoField int
}

// Resource describes a resource type.
type Resource struct {
	Name string
	// Exported resources are implemented by the guest: the host holds reps, not handles.
	Exported bool
	// Dtor is the guest's destructor export of an exported resource.
	Dtor string
	// IntrinsicModule is the import module of the exported resource's
	// [resource-new]/[resource-rep]/[resource-drop].
	IntrinsicModule string
}

// Func describes a function of the core module, exported or imported.
type Func struct {
	// Module is the import module (empty for exports); Name the core name.
	Module, Name string
	// Params and Result are the WIT-level signature.
	Params []*Type
	Result *Type
	// CoreParams and CoreResults are the core signature.
	CoreParams, CoreResults []FlatType
	// IndirectParams: the parameters are a tuple in memory, passed by pointer.
	IndirectParams bool
	// RetPtr: the result is in memory (exports return a pointer; imports get one).
	RetPtr bool
	// PostReturn is the export to call after lifting the result, if any.
	PostReturn string

	once   sync.Once
	layout paramLayout
}

type paramLayout struct {
	flatOffsets  []int    // index of each parameter's first flat value
	tupleOffsets []uint32 // offset of each parameter in the indirect tuple
	tupleSize    uint32
	tupleAlign   uint32
}

func (f *Func) params() *paramLayout {
	f.once.Do(func() {
		l := &f.layout
		n, off, align := 0, uint32(0), uint32(1)
		for _, p := range f.Params {
			l.flatOffsets = append(l.flatOffsets, n)
			n += len(p.Flat)
			off = alignTo(off, p.Align)
			l.tupleOffsets = append(l.tupleOffsets, off)
			off += p.Size
			align = max(align, p.Align)
		}
		l.tupleSize, l.tupleAlign = alignTo(off, align), align
	})
	return &f.layout
}

// TypeInfo pairs a descriptor with a constructor of its Go type, for layout checks.
type TypeInfo struct {
	Type *Type
	Zero func() any
}

// Descriptors of the primitive types.
var (
	Bool   = &Type{Name: "bool", Kind: KindBool, Size: 1, Align: 1, Flat: []FlatType{FlatI32}}
	U8     = &Type{Name: "u8", Kind: KindU8, Size: 1, Align: 1, Flat: []FlatType{FlatI32}}
	S8     = &Type{Name: "s8", Kind: KindS8, Size: 1, Align: 1, Flat: []FlatType{FlatI32}}
	U16    = &Type{Name: "u16", Kind: KindU16, Size: 2, Align: 2, Flat: []FlatType{FlatI32}}
	S16    = &Type{Name: "s16", Kind: KindS16, Size: 2, Align: 2, Flat: []FlatType{FlatI32}}
	U32    = &Type{Name: "u32", Kind: KindU32, Size: 4, Align: 4, Flat: []FlatType{FlatI32}}
	S32    = &Type{Name: "s32", Kind: KindS32, Size: 4, Align: 4, Flat: []FlatType{FlatI32}}
	U64    = &Type{Name: "u64", Kind: KindU64, Size: 8, Align: 8, Flat: []FlatType{FlatI64}}
	S64    = &Type{Name: "s64", Kind: KindS64, Size: 8, Align: 8, Flat: []FlatType{FlatI64}}
	F32    = &Type{Name: "f32", Kind: KindF32, Size: 4, Align: 4, Flat: []FlatType{FlatF32}}
	F64    = &Type{Name: "f64", Kind: KindF64, Size: 8, Align: 8, Flat: []FlatType{FlatF64}}
	Char   = &Type{Name: "char", Kind: KindChar, Size: 4, Align: 4, Flat: []FlatType{FlatI32}}
	String = &Type{Name: "string", Kind: KindString, Size: 8, Align: 4, Flat: []FlatType{FlatI32, FlatI32}}
)

// Result is a WIT result<T, E> held in a value (function results become (T, error)).
type Result[T, E any] struct {
	IsErr bool
	Ok    T
	Err   E
}

// ResultError is the error of a function whose WIT result is result<T, E> and that
// returned err(E).
type ResultError[E any] struct {
	Value E
}

func (e *ResultError[E]) Error() string {
	if s, ok := any(e.Value).(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%+v", e.Value)
}

// Tuple2 is a WIT tuple<A, B>.
type Tuple2[A, B any] struct {
	F0 A
	F1 B
}

// Tuple3 is a WIT tuple<A, B, C>.
type Tuple3[A, B, C any] struct {
	F0 A
	F1 B
	F2 C
}

// UnknownCase renders an enum or variant value outside its cases.
func UnknownCase(v uint32) string { return fmt.Sprintf("unknown(%d)", v) }

// VariantCase is the String of a variant holding a case with a payload: "unknown(5)".
func VariantCase(name string, payload any) string { return fmt.Sprintf("%s(%v)", name, payload) }

// Intrinsic is an exported-resource intrinsic the core module imports.
type Intrinsic uint8

// Intrinsics of exported resources.
const (
	NotIntrinsic Intrinsic = iota
	ResourceNew
	ResourceRep
	ResourceDrop
)

// Import is a core import with its host function.
type Import struct {
	// Func gives the import's module, name and signature.
	Func *Func
	// Host runs the import; nil for intrinsics.
	Host func(ctx context.Context, c *Instance, a *Args)
	// Resource and Intrinsic describe an exported-resource intrinsic.
	Resource  *Resource
	Intrinsic Intrinsic
}

func alignTo(n, align uint32) uint32 { return (n + align - 1) &^ (align - 1) }
