package cabi

import (
	"cmp"
	"fmt"
	"math"
	"reflect"
	"slices"
	"unicode/utf8"
)

// LiftError reports a value in guest memory or flat values that is not a valid value of its
// WIT type (the canonical ABI traps there). The host never panics on it.
type LiftError struct {
	Type   string
	Reason string
}

func (e *LiftError) Error() string {
	return fmt.Sprintf("invalid %s from the guest: %s", e.Type, e.Reason)
}

// LowerError reports a Go value that has no WIT value of its type (a flags bit out of
// range, an invalid tag, a non-scalar rune, a length over 4 GiB).
type LowerError struct {
	Type   string
	Reason string
}

func (e *LowerError) Error() string {
	return fmt.Sprintf("cannot pass %s to the guest: %s", e.Type, e.Reason)
}

func liftErr(t *Type, format string, args ...any) error {
	return &LiftError{Type: t.Name, Reason: fmt.Sprintf(format, args...)}
}

func lowerErr(t *Type, format string, args ...any) error {
	return &LowerError{Type: t.Name, Reason: fmt.Sprintf(format, args...)}
}

// ---- memory form ----------------------------------------------------------------------

// load lifts the value of t stored at ptr into dst.
func (c *Instance) load(t *Type, ptr uint32, dst reflect.Value) error {
	if uint64(ptr)+uint64(t.Size) > uint64(c.mem.Size()) {
		return liftErr(t, "%d bytes at %#x are outside memory (%d bytes)", t.Size, ptr, c.mem.Size())
	}
	if t.Align > 1 && ptr%t.Align != 0 {
		return liftErr(t, "pointer %#x is not %d-aligned", ptr, t.Align)
	}
	m := c.mem
	switch t.Kind {
	case KindBool:
		b, _ := m.ReadByte(ptr)
		dst.SetBool(b != 0)
	case KindU8, KindS8:
		b, _ := m.ReadByte(ptr)
		return setInt(t, dst, uint64(b))
	case KindU16, KindS16:
		v, _ := m.ReadUint16Le(ptr)
		return setInt(t, dst, uint64(v))
	case KindU32, KindS32, KindF32, KindChar, KindOwn, KindBorrow:
		v, _ := m.ReadUint32Le(ptr)
		return c.liftScalar(t, uint64(v), dst)
	case KindU64, KindS64, KindF64:
		v, _ := m.ReadUint64Le(ptr)
		return c.liftScalar(t, v, dst)
	case KindString, KindList:
		p, _ := m.ReadUint32Le(ptr)
		n, _ := m.ReadUint32Le(ptr + 4)
		return c.liftSequence(t, p, n, dst)
	case KindRecord, KindTuple:
		for i, f := range t.Fields {
			if err := c.load(f.Type, ptr+f.Offset, dst.Field(i)); err != nil {
				return err
			}
		}
	case KindEnum, KindFlags:
		v := c.readDisc(t, ptr)
		return c.liftScalar(t, uint64(v), dst)
	case KindVariant, KindOption, KindResult:
		disc := c.readDisc(t, ptr)
		return c.liftCase(t, disc, dst, func(p *Type, field reflect.Value) error {
			return c.load(p, ptr+t.PayloadOffset, field)
		})
	default:
		return liftErr(t, "unknown kind %d", t.Kind)
	}
	return nil
}

func (c *Instance) readDisc(t *Type, ptr uint32) uint32 {
	switch discSize(t) {
	case 1:
		b, _ := c.mem.ReadByte(ptr)
		return uint32(b)
	case 2:
		v, _ := c.mem.ReadUint16Le(ptr)
		return uint32(v)
	default:
		v, _ := c.mem.ReadUint32Le(ptr)
		return v
	}
}

func discSize(t *Type) uint32 {
	switch t.Kind {
	case KindOption, KindResult:
		return 1
	case KindFlags:
		return t.Size
	}
	return t.DiscSize
}

// liftScalar lifts a value of at most 64 bits (raw bits, zero-extended).
func (c *Instance) liftScalar(t *Type, v uint64, dst reflect.Value) error {
	switch t.Kind {
	case KindBool:
		dst.SetBool(uint32(v) != 0)
	case KindF32:
		dst.SetFloat(float64(math.Float32frombits(uint32(v))))
	case KindF64:
		dst.SetFloat(math.Float64frombits(v))
	case KindChar:
		r := rune(uint32(v))
		if uint32(v) > utf8.MaxRune || !utf8.ValidRune(r) {
			return liftErr(t, "%#x is not a Unicode scalar value", uint32(v))
		}
		dst.SetInt(int64(r))
	case KindEnum:
		if uint32(v) >= uint32(len(t.Cases)) {
			return liftErr(t, "case %d of %d", uint32(v), len(t.Cases))
		}
		dst.SetUint(v)
	case KindFlags:
		if t.FlagCount < 32 && uint32(v)>>t.FlagCount != 0 {
			return liftErr(t, "bits %#x beyond its %d flags", uint32(v), t.FlagCount)
		}
		dst.SetUint(uint64(uint32(v)))
	case KindOwn:
		h := uint32(v)
		if t.Resource.Exported {
			rep, err := c.takeExported(t.Resource, h)
			if err != nil {
				return liftErr(t, "%v", err)
			}
			h = rep
		}
		dst.SetUint(uint64(h))
	case KindBorrow:
		h := uint32(v)
		if t.Resource.Exported {
			rep, err := c.exportedRep(t.Resource, h)
			if err != nil {
				return liftErr(t, "%v", err)
			}
			h = rep
		}
		dst.SetUint(uint64(h))
	default:
		return setInt(t, dst, v)
	}
	return nil
}

func setInt(t *Type, dst reflect.Value, v uint64) error {
	switch t.Kind {
	case KindU8:
		dst.SetUint(uint64(uint8(v)))
	case KindU16:
		dst.SetUint(uint64(uint16(v)))
	case KindU32:
		dst.SetUint(uint64(uint32(v)))
	case KindU64:
		dst.SetUint(v)
	case KindS8:
		dst.SetInt(int64(int8(v)))
	case KindS16:
		dst.SetInt(int64(int16(v)))
	case KindS32:
		dst.SetInt(int64(int32(v)))
	case KindS64:
		dst.SetInt(int64(v))
	default:
		return liftErr(t, "not an integer")
	}
	return nil
}

// liftSequence lifts a string or list of n elements at ptr.
func (c *Instance) liftSequence(t *Type, ptr, n uint32, dst reflect.Value) error {
	elemSize, elemAlign := uint64(1), uint32(1)
	if t.Kind == KindList {
		elemSize, elemAlign = uint64(t.Elem.Size), t.Elem.Align
	}
	total := uint64(n) * elemSize
	if uint64(ptr)+total > uint64(c.mem.Size()) {
		return liftErr(t, "%d elements at %#x are outside memory (%d bytes)", n, ptr, c.mem.Size())
	}
	if elemAlign > 1 && ptr%elemAlign != 0 {
		return liftErr(t, "pointer %#x is not %d-aligned", ptr, elemAlign)
	}
	if t.Kind == KindString {
		b, _ := c.mem.Read(ptr, n)
		if !utf8.Valid(b) {
			return liftErr(t, "not UTF-8")
		}
		dst.SetString(string(b))
		return nil
	}
	if t.GoMap {
		m := reflect.MakeMapWithSize(dst.Type(), int(n))
		kt, vt := dst.Type().Key(), dst.Type().Elem()
		for i := range n {
			at := ptr + i*t.Elem.Size
			k, v := reflect.New(kt).Elem(), reflect.New(vt).Elem()
			if err := c.load(t.Elem.Fields[0].Type, at+t.Elem.Fields[0].Offset, k); err != nil {
				return err
			}
			if err := c.load(t.Elem.Fields[1].Type, at+t.Elem.Fields[1].Offset, v); err != nil {
				return err
			}
			if m.MapIndex(k).IsValid() {
				return liftErr(t, "key %q repeated", k.String())
			}
			m.SetMapIndex(k, v)
		}
		dst.Set(m)
		return nil
	}
	if t.Elem.Kind == KindU8 && dst.Type().Elem().Kind() == reflect.Uint8 {
		b, _ := c.mem.Read(ptr, n)
		s := reflect.MakeSlice(dst.Type(), int(n), int(n))
		reflect.Copy(s, reflect.ValueOf(b))
		dst.Set(s)
		return nil
	}
	s := reflect.MakeSlice(dst.Type(), int(n), int(n))
	for i := range n {
		if err := c.load(t.Elem, ptr+i*t.Elem.Size, s.Index(int(i))); err != nil {
			return err
		}
	}
	dst.Set(s)
	return nil
}

// liftCase sets dst to case disc of a variant, option or result; payload lifts a case's
// payload into a Go value.
func (c *Instance) liftCase(t *Type, disc uint32, dst reflect.Value, payload func(*Type, reflect.Value) error) error {
	switch t.Kind {
	case KindOption:
		switch disc {
		case 0:
			dst.SetZero()
			return nil
		case 1:
			v := reflect.New(dst.Type().Elem())
			if err := payload(t.Elem, v.Elem()); err != nil {
				return err
			}
			dst.Set(v)
			return nil
		}
		return liftErr(t, "option discriminant %d", disc)
	case KindResult:
		if disc > 1 {
			return liftErr(t, "result discriminant %d", disc)
		}
		dst.Field(0).SetBool(disc == 1)
		if disc == 0 && t.Ok != nil {
			return payload(t.Ok, dst.Field(1))
		}
		if disc == 1 && t.Err != nil {
			return payload(t.Err, dst.Field(2))
		}
		return nil
	}
	if disc >= uint32(len(t.Cases)) {
		return liftErr(t, "case %d of %d", disc, len(t.Cases))
	}
	dst.SetZero()
	dst.Field(0).SetUint(uint64(disc))
	cs := t.Cases[disc]
	if cs.Type != nil {
		return payload(cs.Type, dst.Field(cs.GoField))
	}
	return nil
}

// store lowers src (a Go value of t) into memory at ptr.
func (c *Instance) store(t *Type, ptr uint32, src reflect.Value) error {
	m := c.mem
	switch t.Kind {
	case KindBool, KindU8, KindS8:
		v, err := c.lowerScalar(t, src)
		if err != nil {
			return err
		}
		m.WriteByte(ptr, byte(v))
	case KindU16, KindS16:
		v, err := c.lowerScalar(t, src)
		if err != nil {
			return err
		}
		m.WriteUint16Le(ptr, uint16(v))
	case KindU32, KindS32, KindF32, KindChar, KindOwn, KindBorrow:
		v, err := c.lowerScalar(t, src)
		if err != nil {
			return err
		}
		m.WriteUint32Le(ptr, uint32(v))
	case KindU64, KindS64, KindF64:
		v, err := c.lowerScalar(t, src)
		if err != nil {
			return err
		}
		m.WriteUint64Le(ptr, v)
	case KindString, KindList:
		p, n, err := c.lowerSequence(t, src)
		if err != nil {
			return err
		}
		m.WriteUint32Le(ptr, p)
		m.WriteUint32Le(ptr+4, n)
	case KindRecord, KindTuple:
		for i, f := range t.Fields {
			if err := c.store(f.Type, ptr+f.Offset, src.Field(i)); err != nil {
				return err
			}
		}
	case KindEnum, KindFlags:
		v, err := c.lowerScalar(t, src)
		if err != nil {
			return err
		}
		c.writeDisc(t, ptr, uint32(v))
	case KindVariant, KindOption, KindResult:
		disc, payloadType, payload, err := caseOf(t, src)
		if err != nil {
			return err
		}
		c.writeDisc(t, ptr, disc)
		if payloadType != nil {
			return c.store(payloadType, ptr+t.PayloadOffset, payload)
		}
	default:
		return lowerErr(t, "unknown kind %d", t.Kind)
	}
	return nil
}

func (c *Instance) writeDisc(t *Type, ptr, v uint32) {
	switch discSize(t) {
	case 1:
		c.mem.WriteByte(ptr, byte(v))
	case 2:
		c.mem.WriteUint16Le(ptr, uint16(v))
	default:
		c.mem.WriteUint32Le(ptr, v)
	}
}

// caseOf reads which case a Go variant, option or result value holds.
func caseOf(t *Type, src reflect.Value) (disc uint32, payloadType *Type, payload reflect.Value, err error) {
	switch t.Kind {
	case KindOption:
		if src.IsNil() {
			return 0, nil, reflect.Value{}, nil
		}
		return 1, t.Elem, src.Elem(), nil
	case KindResult:
		if src.Field(0).Bool() {
			return 1, t.Err, src.Field(2), nil
		}
		return 0, t.Ok, src.Field(1), nil
	}
	tag := src.Field(0).Uint()
	if tag >= uint64(len(t.Cases)) {
		return 0, nil, reflect.Value{}, lowerErr(t, "tag %d of %d cases", tag, len(t.Cases))
	}
	cs := t.Cases[tag]
	if cs.Type == nil {
		return uint32(tag), nil, reflect.Value{}, nil
	}
	return uint32(tag), cs.Type, src.Field(cs.GoField), nil
}

// lowerScalar returns the raw bits of a value of at most 64 bits.
func (c *Instance) lowerScalar(t *Type, src reflect.Value) (uint64, error) {
	switch t.Kind {
	case KindBool:
		if src.Bool() {
			return 1, nil
		}
		return 0, nil
	case KindU8, KindU16, KindU32, KindU64, KindOwn, KindBorrow:
		return src.Uint(), nil
	case KindS8:
		return uint64(uint8(src.Int())), nil
	case KindS16:
		return uint64(uint16(src.Int())), nil
	case KindS32:
		return uint64(uint32(src.Int())), nil
	case KindS64:
		return uint64(src.Int()), nil
	case KindF32:
		return uint64(math.Float32bits(float32(src.Float()))), nil
	case KindF64:
		return math.Float64bits(src.Float()), nil
	case KindChar:
		r := rune(src.Int())
		if !utf8.ValidRune(r) {
			return 0, lowerErr(t, "%#x is not a Unicode scalar value", src.Int())
		}
		return uint64(uint32(r)), nil
	case KindEnum:
		if src.Uint() >= uint64(len(t.Cases)) {
			return 0, lowerErr(t, "case %d of %d", src.Uint(), len(t.Cases))
		}
		return src.Uint(), nil
	case KindFlags:
		if t.FlagCount < 32 && src.Uint()>>t.FlagCount != 0 {
			return 0, lowerErr(t, "bits %#x beyond its %d flags", src.Uint(), t.FlagCount)
		}
		return src.Uint(), nil
	}
	return 0, lowerErr(t, "not a scalar")
}

// lowerSequence copies a string or list into memory allocated with the guest's
// cabi_realloc and returns its pointer and length.
func (c *Instance) lowerSequence(t *Type, src reflect.Value) (uint32, uint32, error) {
	if t.Kind == KindString {
		s := src.String()
		if uint64(len(s)) > math.MaxUint32 {
			return 0, 0, lowerErr(t, "%d bytes", len(s))
		}
		if !utf8.ValidString(s) {
			return 0, 0, lowerErr(t, "not UTF-8")
		}
		if len(s) == 0 {
			return 1, 0, nil
		}
		p, err := c.alloc(uint32(len(s)), 1)
		if err != nil {
			return 0, 0, err
		}
		c.mem.WriteString(p, s)
		return p, uint32(len(s)), nil
	}
	n := src.Len()
	if uint64(n)*uint64(t.Elem.Size) > math.MaxUint32 {
		return 0, 0, lowerErr(t, "%d elements", n)
	}
	if n == 0 {
		return t.Elem.Align, 0, nil
	}
	p, err := c.alloc(uint32(n)*t.Elem.Size, t.Elem.Align)
	if err != nil {
		return 0, 0, err
	}
	switch {
	case t.GoMap:
		keys := src.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.String(), b.String()) })
		for i, k := range keys {
			at := p + uint32(i)*t.Elem.Size
			if err := c.store(t.Elem.Fields[0].Type, at+t.Elem.Fields[0].Offset, k); err != nil {
				return 0, 0, err
			}
			if err := c.store(t.Elem.Fields[1].Type, at+t.Elem.Fields[1].Offset, src.MapIndex(k)); err != nil {
				return 0, 0, err
			}
		}
	case t.Elem.Kind == KindU8 && src.Type().Elem().Kind() == reflect.Uint8:
		c.mem.Write(p, src.Bytes())
	default:
		for i := range n {
			if err := c.store(t.Elem, p+uint32(i)*t.Elem.Size, src.Index(i)); err != nil {
				return 0, 0, err
			}
		}
	}
	return p, uint32(n), nil
}

// ---- flat form --------------------------------------------------------------------------

// lowerFlat appends the flat values of src (raw bits, zero-extended to 64) to out.
func (c *Instance) lowerFlat(t *Type, src reflect.Value, out []uint64) ([]uint64, error) {
	switch t.Kind {
	case KindString, KindList:
		p, n, err := c.lowerSequence(t, src)
		if err != nil {
			return out, err
		}
		return append(out, uint64(p), uint64(n)), nil
	case KindRecord, KindTuple:
		for i, f := range t.Fields {
			var err error
			if out, err = c.lowerFlat(f.Type, src.Field(i), out); err != nil {
				return out, err
			}
		}
		return out, nil
	case KindVariant, KindOption, KindResult:
		disc, payloadType, payload, err := caseOf(t, src)
		if err != nil {
			return out, err
		}
		start := len(out)
		out = append(out, uint64(disc))
		if payloadType != nil {
			if out, err = c.lowerFlat(payloadType, payload, out); err != nil {
				return out, err
			}
		}
		for len(out) < start+len(t.Flat) {
			out = append(out, 0)
		}
		return out, nil
	}
	v, err := c.lowerScalar(t, src)
	return append(out, v), err
}

// liftFlat lifts a value of t from its flat values.
func (c *Instance) liftFlat(t *Type, vals []uint64, dst reflect.Value) error {
	if len(vals) < len(t.Flat) {
		return liftErr(t, "%d flat values, want %d", len(vals), len(t.Flat))
	}
	switch t.Kind {
	case KindString, KindList:
		return c.liftSequence(t, uint32(vals[0]), uint32(vals[1]), dst)
	case KindRecord, KindTuple:
		i := 0
		for fi, f := range t.Fields {
			if err := c.liftFlat(f.Type, vals[i:], dst.Field(fi)); err != nil {
				return err
			}
			i += len(f.Type.Flat)
		}
		return nil
	case KindVariant, KindOption, KindResult:
		disc := uint32(vals[0])
		return c.liftCase(t, disc, dst, func(p *Type, field reflect.Value) error {
			return c.liftFlat(p, vals[1:], field)
		})
	}
	return c.liftScalar(t, vals[0], dst)
}
