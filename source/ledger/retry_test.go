package ledger_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// beforeUpload runs f once, before the first upload goes out.
type beforeUpload struct {
	once sync.Once
	f    func()
	next http.RoundTripper
}

func (b *beforeUpload) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "/upload/") {
		b.once.Do(b.f)
	}
	return b.next.RoundTrip(r)
}

// The owner renews its lease between a claimer's read of the ended lease
// and the claimer's takeover: the takeover must lose, and the owner go on.
func TestRenewalBetweenAClaimersReadAndWriteWins(t *testing.T) {
	t.Parallel()
	srv, err := localgcs.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	clk := newClock()
	owner := ledger.New(bucketOn(t, srv), "ledger", ledger.WithClock(clk.Now))
	in := object("gs://hem-landing/catalogue/renewed.csv")
	e := mustClaim(t, owner, in, "loader-a")
	clk.Advance(lease + time.Second) // the lease ended; loader-a is slow, not dead

	var renewErr error
	hook := &beforeUpload{next: http.DefaultTransport, f: func() {
		e.Checkpoint = 7
		renewErr = owner.Update(t.Context(), e, lease)
	}}
	c, err := storage.NewClient(t.Context(),
		option.WithEndpoint(srv.Endpoint()),
		option.WithHTTPClient(&http.Client{Transport: hook}),
		storage.WithJSONReads(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	claimer := ledger.New(c.Bucket(testBucket), "ledger", ledger.WithClock(clk.Now))

	got, claimed, err := claimer.Claim(t.Context(), in, "loader-b", lease)
	if renewErr != nil {
		t.Fatalf("the owner's renewal: %v", renewErr)
	}
	if err != nil || claimed {
		t.Fatalf("takeover racing a renewal = claimed %v, %v; want refused", claimed, err)
	}
	if got.GetOwner() != "loader-a" || got.GetCheckpoint() != 7 || got.GetAttempts() != 1 {
		t.Errorf("refused Claim returned owner %q checkpoint %d attempts %d; want the renewed loader-a, 7, 1", got.GetOwner(), got.GetCheckpoint(), got.GetAttempts())
	}
	e.Checkpoint = 8
	if err := owner.Update(t.Context(), e, lease); err != nil {
		t.Errorf("the owner's next Update = %v; want nil", err)
	}
}
