package collector_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
)

// countingBody counts the bytes the handler read of a body.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return nil }

// An HTTP request is charged to the in-flight budget before its body is
// read: one announcing more than the body limit gets 413, and one the
// budget has no room for gets 429 with Retry-After, both with nothing read.
func TestHTTPChargedBeforeTheBodyIsRead(t *testing.T) {
	t.Parallel()
	const batch = 1 << 20 // JSON body limit 4 MiB
	st := start(t,
		collector.WithLimits(collector.Limits{MaxBatchBytes: batch}),
		collector.WithMaxInflightBytes(4*batch),
	)
	h := st.Collector.HTTPHandler()
	post := func(body io.ReadCloser, length int64) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/events", body)
		req.ContentLength = length
		req.Header.Set("X-Api-Key", collectortest.APIKey)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	big := &countingBody{r: strings.NewReader(strings.Repeat(" ", 4*batch+1))}
	if rec := post(big, 4*batch+1); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("body over the limit: %d %s, want 413", rec.Code, rec.Body)
	}
	if n := big.read.Load(); n != 0 {
		t.Errorf("%d bytes of a body over the limit read", n)
	}

	// A request of 1 MiB (charged 4 MiB, the whole budget) whose body
	// trickles in holds the budget while it is read.
	pr, pw := io.Pipe()
	held := make(chan int)
	go func() { held <- post(pr, batch).Code }()
	if _, err := pw.Write([]byte(`{"events": [`)); err != nil { // returns once the handler reads
		t.Fatal(err)
	}
	next := &countingBody{r: strings.NewReader(`{"events": []}`)}
	rec := post(next, int64(len(`{"events": []}`)))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("request while the budget is held: %d (Retry-After %q) %s, want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if n := next.read.Load(); n != 0 {
		t.Errorf("%d bytes read of a request the budget had no room for", n)
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-held
	// The budget is back.
	if rec := post(io.NopCloser(strings.NewReader(`{"events": []}`)), int64(len(`{"events": []}`))); rec.Code != http.StatusOK {
		t.Errorf("after the held request: %d %s, want 200", rec.Code, rec.Body)
	}
}
