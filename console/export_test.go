package console

import "time"

// SetKeyAuthClock lets tests age sessions.
func SetKeyAuthClock(a *KeyAuthenticator, now func() time.Time) { a.now = now }
