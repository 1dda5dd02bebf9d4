// engines.go — the three Go maps the lab compares with its C models of them
// (lab/engines/gomap.c, sharded.c, syncmap.c): the real runtime's map and
// sync.Map, used as a Go service would use them.
//
// Go maps cannot fail short of a fatal out-of-memory, so no method reports
// an engine error.
package main

import (
	"sync"
	"time"
)

type engine interface {
	get(k uint64) (uint64, bool)
	put(k, v uint64)
	del(k uint64) bool
	// iterate visits every entry and returns how many it visited.
	iterate(visit func(k, v uint64)) int
}

func newEngine(name string, hint uint64) engine {
	switch name {
	case "go_map_rw":
		return &mapRW{m: make(map[uint64]uint64, hint)}
	case "go_syncmap":
		return &syncMap{}
	case "go_sharded":
		s := &sharded{seed: mix(uint64(time.Now().UnixNano()))}
		for i := range s.shards {
			s.shards[i].m = make(map[uint64]uint64, hint/shardCount)
		}
		return s
	}
	return nil
}

// mapRW is one map behind one sync.RWMutex: the first thing a Go service
// writes, and what gomap.c models.
type mapRW struct {
	mu sync.RWMutex
	m  map[uint64]uint64
}

func (e *mapRW) get(k uint64) (uint64, bool) {
	e.mu.RLock()
	v, ok := e.m[k]
	e.mu.RUnlock()
	return v, ok
}

func (e *mapRW) put(k, v uint64) {
	e.mu.Lock()
	e.m[k] = v
	e.mu.Unlock()
}

func (e *mapRW) del(k uint64) bool {
	e.mu.Lock()
	_, ok := e.m[k]
	if ok {
		delete(e.m, k)
	}
	e.mu.Unlock()
	return ok
}

// iterate holds the read lock for the whole walk, as a range over a locked
// map must: that is the stall the range scenario is about.
func (e *mapRW) iterate(visit func(k, v uint64)) int {
	e.mu.RLock()
	n := 0
	for k, v := range e.m {
		visit(k, v)
		n++
	}
	e.mu.RUnlock()
	return n
}

// syncMap stores uint64s in sync.Map's interface{} slots, boxing them as a
// caller of sync.Map must (values above 255 allocate).
type syncMap struct{ m sync.Map }

func (e *syncMap) get(k uint64) (uint64, bool) {
	v, ok := e.m.Load(k)
	if !ok {
		return 0, false
	}
	return v.(uint64), true
}

func (e *syncMap) put(k, v uint64) { e.m.Store(k, v) }

func (e *syncMap) del(k uint64) bool {
	_, ok := e.m.LoadAndDelete(k)
	return ok
}

func (e *syncMap) iterate(visit func(k, v uint64)) int {
	n := 0
	e.m.Range(func(k, v interface{}) bool {
		visit(k.(uint64), v.(uint64))
		n++
		return true
	})
	return n
}

// sharded is 32 maps with a lock each, the concurrent-map design. The shard
// is the top 5 bits of a seeded mix of the key, so the bits that pick the
// shard are independent of the bits Go's own (differently seeded) hash uses
// inside the shard.
const shardBits = 5
const shardCount = 1 << shardBits

type shard struct {
	mu sync.RWMutex
	m  map[uint64]uint64
	_  [64 - 32]byte // 64 bytes a shard: a lock word does not share its line with a neighbour's
}

type sharded struct {
	shards [shardCount]shard
	seed   uint64
}

func (e *sharded) of(k uint64) *shard { return &e.shards[mix(k^e.seed)>>(64-shardBits)] }

func (e *sharded) get(k uint64) (uint64, bool) {
	s := e.of(k)
	s.mu.RLock()
	v, ok := s.m[k]
	s.mu.RUnlock()
	return v, ok
}

func (e *sharded) put(k, v uint64) {
	s := e.of(k)
	s.mu.Lock()
	s.m[k] = v
	s.mu.Unlock()
}

func (e *sharded) del(k uint64) bool {
	s := e.of(k)
	s.mu.Lock()
	_, ok := s.m[k]
	if ok {
		delete(s.m, k)
	}
	s.mu.Unlock()
	return ok
}

func (e *sharded) iterate(visit func(k, v uint64)) int {
	n := 0
	for i := range e.shards {
		s := &e.shards[i]
		s.mu.RLock()
		for k, v := range s.m {
			visit(k, v)
			n++
		}
		s.mu.RUnlock()
	}
	return n
}
