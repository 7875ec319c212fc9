package transport

// handleTable holds the resources one instance holds handles to. A handle indexes
// entries; 0 is never used. Freed handles are reused.
type handleTable struct {
	entries []any // nil: free
	free    []uint32
	live    int
}

// push stores v and returns its new handle.
func (t *handleTable) push(v any) uint32 {
	t.live++
	if n := len(t.free); n > 0 {
		h := t.free[n-1]
		t.free = t.free[:n-1]
		t.entries[h] = v
		return h
	}
	if len(t.entries) == 0 {
		t.entries = append(t.entries, nil) // handle 0
	}
	t.entries = append(t.entries, v)
	return uint32(len(t.entries) - 1)
}

// get returns the resource of handle h.
func (t *handleTable) get(h uint32) (any, bool) {
	if h == 0 || int64(h) >= int64(len(t.entries)) || t.entries[h] == nil {
		return nil, false
	}
	return t.entries[h], true
}

// remove frees handle h and returns its resource.
func (t *handleTable) remove(h uint32) (any, bool) {
	v, ok := t.get(h)
	if !ok {
		return nil, false
	}
	t.entries[h] = nil
	t.free = append(t.free, h)
	t.live--
	return v, true
}

// drain empties the table and returns every resource it held.
func (t *handleTable) drain() []any {
	var out []any
	for _, v := range t.entries {
		if v != nil {
			out = append(out, v)
		}
	}
	*t = handleTable{}
	return out
}

// lookup returns the resource of handle h as a T (the resource type named resource), or
// traps: an unknown handle is a guest bug the canonical ABI traps on.
func lookup[T any](h *Host, handle uint32, resource string) T {
	h.mu.Lock()
	v, ok := h.table.get(handle)
	h.mu.Unlock()
	r, isT := v.(T)
	if !ok || !isT {
		panic(&HandleError{Resource: resource, Handle: handle})
	}
	return r
}

// take removes handle h (an own<T> passed to the host, or a drop) and returns its
// resource, or traps like lookup.
func take[T any](h *Host, handle uint32, resource string) T {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.table.get(handle)
	r, isT := v.(T)
	if !ok || !isT {
		panic(&HandleError{Resource: resource, Handle: handle})
	}
	h.table.remove(handle)
	return r
}

// push adds a resource to h's table and returns its handle.
func push[H ~uint32](h *Host, v any) H {
	h.mu.Lock()
	defer h.mu.Unlock()
	return H(h.table.push(v))
}
