package ledger_test

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/hemlabs/hem/registry/localgcs"
	"github.com/hemlabs/hem/source/ledger"
)

// loseUploads answers the next n uploads 503 (a proxy, a dropped
// connection): after delivering them to the server when deliver is set (the
// answer was lost), or without (the request was).
type loseUploads struct {
	n       atomic.Int32
	deliver bool
	next    http.RoundTripper
}

func (l *loseUploads) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.Contains(r.URL.Path, "/upload/") || l.n.Add(-1) < 0 {
		return l.next.RoundTrip(r)
	}
	if l.deliver {
		resp, err := l.next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	} else if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusServiceUnavailable,
		Status:     "503 Service Unavailable",
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader(`{"error":{"code":503,"message":"response lost"}}`)),
		Request:    r,
	}, nil
}

// A write whose answer was lost may have landed or not: the owner neither
// fails nor reads its own write as another owner's.
func TestWriteWhoseAnswerWasLostIsRetriedOrRecognised(t *testing.T) {
	t.Parallel()
	srv, err := localgcs.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	bucketOn(t, srv) // creates the bucket
	for _, tc := range []struct {
		name    string
		deliver bool
		lost    int32
	}{
		{"answer lost", true, 1},
		{"request lost", false, 1},
		{"request lost twice", false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lose := &loseUploads{deliver: tc.deliver, next: http.DefaultTransport}
			c, err := storage.NewClient(t.Context(),
				option.WithEndpoint(srv.Endpoint()),
				option.WithHTTPClient(&http.Client{Transport: lose}),
				storage.WithJSONReads(),
			)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			clk := newClock()
			l := ledger.New(c.Bucket(testBucket), "ledger", ledger.WithClock(clk.Now))
			in := object("gs://hem-landing/catalogue/" + strings.ReplaceAll(tc.name, " ", "-") + ".csv")

			lose.n.Store(tc.lost)
			e, claimed, err := l.Claim(t.Context(), in, "loader-a", lease)
			if err != nil || !claimed {
				t.Fatalf("Claim = claimed %v, %v; want claimed", claimed, err)
			}
			if lose.n.Load() > 0 {
				t.Fatal("no upload was lost: the test proves nothing")
			}
			lose.n.Store(tc.lost)
			e.Checkpoint = 42
			if err := l.Update(t.Context(), e, lease); err != nil {
				t.Fatalf("Update = %v; want nil", err)
			}
			e.Checkpoint = 43
			if err := l.Update(t.Context(), e, lease); err != nil {
				t.Fatalf("the next Update = %v; want nil (its precondition is the generation written)", err)
			}
			got, err := l.Get(t.Context(), in.Source, in.Uri, in.Generation)
			if err != nil {
				t.Fatal(err)
			}
			if got.GetCheckpoint() != 43 || got.GetAttempts() != 1 || got.GetOwner() != "loader-a" {
				t.Errorf("stored checkpoint %d attempts %d owner %q; want 43, 1, loader-a", got.GetCheckpoint(), got.GetAttempts(), got.GetOwner())
			}
		})
	}
}
