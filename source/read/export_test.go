package read

// SetGCSWindow sets how much one GCS request reads, for a test; it returns
// the function that restores it.
func SetGCSWindow(n int64) (restore func()) {
	old := gcsWindow
	gcsWindow = n
	return func() { gcsWindow = old }
}
