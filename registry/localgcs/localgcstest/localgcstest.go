// Package localgcstest starts the local GCS server for a test.
package localgcstest

import (
	"testing"

	"cloud.google.com/go/storage"

	"github.com/hemlabs/hem/registry/localgcs"
)

// Client starts a local GCS server in a temporary folder of tb, creates
// buckets on it and returns a client; both end with the test.
func Client(tb testing.TB, buckets ...string) *storage.Client {
	tb.Helper()
	srv, err := localgcs.Start(tb.TempDir(), "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Stop)
	c, err := srv.NewClient(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	for _, b := range buckets {
		if err := localgcs.EnsureBucket(tb.Context(), c, b); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}
