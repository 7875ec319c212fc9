package cabi

import "fmt"

// CheckLayout recomputes t's size, alignment, flattening and offsets from its structure by
// the rules of CanonicalABI.md and reports the first difference from the descriptor. The
// generator takes these values from wit-parser; this is the independent check of both.
func CheckLayout(t *Type) error {
	size, align, flat := layoutOf(t)
	if size != t.Size || align != t.Align {
		return fmt.Errorf("%s: size/align %d/%d, the canonical ABI gives %d/%d", t.Name, t.Size, t.Align, size, align)
	}
	if t.Flat != nil && fmt.Sprint(flat) != fmt.Sprint(t.Flat) {
		return fmt.Errorf("%s: flat %v, the canonical ABI gives %v", t.Name, t.Flat, flat)
	}
	switch t.Kind {
	case KindRecord, KindTuple:
		off := uint32(0)
		for _, f := range t.Fields {
			fs, fa, _ := layoutOf(f.Type)
			off = alignTo(off, fa)
			if f.Offset != off {
				return fmt.Errorf("%s.%s: offset %d, the canonical ABI gives %d", t.Name, f.Name, f.Offset, off)
			}
			off += fs
		}
	case KindVariant, KindOption, KindResult:
		if want := alignTo(discOf(t), maxCaseAlign(t)); t.PayloadOffset != want {
			return fmt.Errorf("%s: payload offset %d, the canonical ABI gives %d", t.Name, t.PayloadOffset, want)
		}
	}
	return nil
}

func payloads(t *Type) []*Type {
	switch t.Kind {
	case KindOption:
		return []*Type{nil, t.Elem}
	case KindResult:
		return []*Type{t.Ok, t.Err}
	}
	out := make([]*Type, len(t.Cases))
	for i, c := range t.Cases {
		out[i] = c.Type
	}
	return out
}

func discOf(t *Type) uint32 {
	n := len(payloads(t))
	switch {
	case n <= 1<<8:
		return 1
	case n <= 1<<16:
		return 2
	}
	return 4
}

func maxCaseAlign(t *Type) uint32 {
	a := uint32(1)
	for _, p := range payloads(t) {
		if p != nil {
			_, pa, _ := layoutOf(p)
			a = max(a, pa)
		}
	}
	return a
}

func join(a, b FlatType) FlatType {
	switch {
	case a == b:
		return a
	case (a == FlatI32 && b == FlatF32) || (a == FlatF32 && b == FlatI32):
		return FlatI32
	}
	return FlatI64
}

func layoutOf(t *Type) (size, align uint32, flat []FlatType) {
	switch t.Kind {
	case KindBool, KindU8, KindS8:
		return 1, 1, []FlatType{FlatI32}
	case KindU16, KindS16:
		return 2, 2, []FlatType{FlatI32}
	case KindU32, KindS32, KindChar, KindOwn, KindBorrow:
		return 4, 4, []FlatType{FlatI32}
	case KindF32:
		return 4, 4, []FlatType{FlatF32}
	case KindU64, KindS64:
		return 8, 8, []FlatType{FlatI64}
	case KindF64:
		return 8, 8, []FlatType{FlatF64}
	case KindString, KindList:
		return 8, 4, []FlatType{FlatI32, FlatI32}
	case KindRecord, KindTuple:
		off, align := uint32(0), uint32(1)
		for _, f := range t.Fields {
			fs, fa, ff := layoutOf(f.Type)
			off = alignTo(off, fa) + fs
			align = max(align, fa)
			flat = append(flat, ff...)
		}
		return alignTo(off, align), align, flat
	case KindEnum:
		d := discOf(t)
		return d, d, []FlatType{FlatI32}
	case KindFlags:
		switch {
		case t.FlagCount <= 8:
			return 1, 1, []FlatType{FlatI32}
		case t.FlagCount <= 16:
			return 2, 2, []FlatType{FlatI32}
		}
		return 4, 4, []FlatType{FlatI32}
	case KindVariant, KindOption, KindResult:
		d := discOf(t)
		caseAlign := maxCaseAlign(t)
		var maxSize uint32
		var joined []FlatType
		for _, p := range payloads(t) {
			if p == nil {
				continue
			}
			ps, _, pf := layoutOf(p)
			maxSize = max(maxSize, ps)
			for i, f := range pf {
				if i < len(joined) {
					joined[i] = join(joined[i], f)
				} else {
					joined = append(joined, f)
				}
			}
		}
		align := max(d, caseAlign)
		return alignTo(alignTo(d, caseAlign)+maxSize, align), align, append([]FlatType{FlatI32}, joined...)
	}
	return 0, 1, nil
}
