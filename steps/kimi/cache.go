package kimi

import "sync"

// Cache keeps the answers of one run's requests, the oldest dropped beyond a bound, so that an engine
// retry of an item does not pay again for the calls that already succeeded. It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	max   int
	clone func(V) V // nil: values are shared as they are

	mu    sync.Mutex
	m     map[K]V
	order []K
}

// NewCache keeps at most max answers. clone, when set, copies a value on the way in and out, for values
// that callers change (a transcription is filtered in place).
func NewCache[K comparable, V any](max int, clone func(V) V) *Cache[K, V] {
	return &Cache[K, V]{max: max, clone: clone, m: map[K]V{}}
}

// Get returns the answer kept for k.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	if ok && c.clone != nil {
		v = c.clone(v)
	}
	return v, ok
}

// Put keeps v for k, dropping the oldest answer when the cache is full.
func (c *Cache[K, V]) Put(k K, v V) {
	if c.clone != nil {
		v = c.clone(v)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		if len(c.order) >= c.max && len(c.order) > 0 {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, k)
	}
	c.m[k] = v
}

// Len is the number of answers kept.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
