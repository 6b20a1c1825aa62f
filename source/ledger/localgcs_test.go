package ledger_test

import (
	"errors"
	"net/http"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
)

// The ledger's atomicity is the GCS server's: these are the answers of the
// real service to conditional uploads (412 when the precondition fails). A
// local server that accepted a write the real one refuses would let every
// ledger test pass while proving nothing, so this test pins them, for both
// upload kinds the client uses (one request, and a resumable session).
func TestLocalGCSRefusesUploadsTheRealServiceRefuses(t *testing.T) {
	t.Parallel()
	bucket := startGCS(t)
	ctx := t.Context()

	upload := func(name string, cond storage.Conditions, chunk int) (int64, error) {
		w := bucket.Object(name).If(cond).NewWriter(ctx)
		w.ChunkSize = chunk
		// More than a chunk: a chunked writer with less sends one request.
		if _, err := w.Write(make([]byte, chunk+1)); err != nil {
			_ = w.Close()
			return 0, err
		}
		if err := w.Close(); err != nil {
			return 0, err
		}
		return w.Attrs().Generation, nil
	}
	const (
		ok      = 0
		refused = http.StatusPreconditionFailed
	)
	for _, chunk := range []struct {
		name string
		size int
	}{{"one request", 0}, {"resumable", 256 << 10}} {
		t.Run(chunk.name, func(t *testing.T) {
			t.Parallel()
			name := "pre/" + chunk.name
			first, err := upload(name, storage.Conditions{DoesNotExist: true}, chunk.size)
			if err != nil {
				t.Fatalf("create with ifGenerationMatch=0 on a missing object: %v", err)
			}
			second, err := upload(name, storage.Conditions{GenerationMatch: first}, chunk.size)
			if err != nil {
				t.Fatalf("ifGenerationMatch=current: %v", err)
			}
			if second == first {
				t.Fatalf("an overwrite kept generation %d", first)
			}
			for _, tc := range []struct {
				what string
				name string
				cond storage.Conditions
				want int
			}{
				{"ifGenerationMatch=0 on an existing object", name, storage.Conditions{DoesNotExist: true}, refused},
				{"ifGenerationMatch=previous generation", name, storage.Conditions{GenerationMatch: first}, refused},
				{"ifGenerationMatch=N on a missing object", name + "-missing", storage.Conditions{GenerationMatch: first}, refused},
				{"ifGenerationMatch=current generation", name, storage.Conditions{GenerationMatch: second}, ok},
			} {
				_, err := upload(tc.name, tc.cond, chunk.size)
				var gerr *googleapi.Error
				switch {
				case tc.want == ok && err != nil:
					t.Errorf("%s: %v; the real service accepts it", tc.what, err)
				case tc.want != ok && err == nil:
					t.Errorf("%s: accepted; the real service refuses it with %d", tc.what, tc.want)
				case tc.want != ok && (!errors.As(err, &gerr) || gerr.Code != tc.want):
					t.Errorf("%s: %v; want HTTP %d", tc.what, err, tc.want)
				}
			}
		})
	}
}
