package registry

// WithClientClock sets the clock of the client's TTLs.
var WithClientClock = withClientClock
