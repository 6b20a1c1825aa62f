package console

// SetMaxReplayBatch sets how many failures one replay takes until restore
// is called. Only for tests that are not parallel.
func SetMaxReplayBatch(n int) (restore func()) {
	old := maxReplayBatch
	maxReplayBatch = n
	return func() { maxReplayBatch = old }
}
