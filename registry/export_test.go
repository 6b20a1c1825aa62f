package registry

import "time"

// WithClientClock sets the clock of the client's TTLs.
var WithClientClock = withClientClock

// WithClock sets the registry's clock.
func WithClock(now func() time.Time) Option { return optionFunc(func(c *config) { c.now = now }) }
