package collector

import (
	"sync"
	"time"
)

// missing remembers for a short while the subjects and schema ids the
// registry did not know, so a producer repeating unknown names costs a map
// lookup instead of a registry call each time. It is bounded: when full it
// starts over, so at worst it forgets early.
type missing struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	m   map[missingKey]time.Time // → expiry
}

type missingKey struct {
	subject string
	id      int64
}

// Short enough that a type registered a moment ago is found soon (the
// registry client trusts a found latest version for about as long).
const (
	missingTTL = 5 * time.Second
	missingMax = 10_000
)

func newMissing() *missing {
	return &missing{ttl: missingTTL, max: missingMax, m: map[missingKey]time.Time{}}
}

// has and add treat a nil *missing as empty and forgetful.
func (m *missing) has(k missingKey, now time.Time) bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.m[k]
	if ok && now.After(exp) {
		delete(m.m, k)
		return false
	}
	return ok
}

func (m *missing) add(k missingKey, now time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.m) >= m.max {
		clear(m.m)
	}
	m.m[k] = now.Add(m.ttl)
}
