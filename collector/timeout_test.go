package collector_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
)

// A client that sends its body a byte at a time is cut off after the read
// timeout, over HTTP/1 and h2c: slow senders cannot hold connections.
func TestSlowBodyIsCutOff(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	st := start(t, collector.WithReadTimeout(timeout))
	tests := []struct {
		name string
		send func(t *testing.T) error // returns once the server ended the request
	}{
		{"http1", func(t *testing.T) error {
			conn, err := net.Dial("tcp", st.HTTPAddr)
			if err != nil {
				return err
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Api-Key: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", collectortest.APIKey)
			go trickle(t.Context(), conn)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				return nil // closed: cut off too
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Errorf("status %d, want 408", resp.StatusCode)
			}
			return nil
		}},
		{"h2c", func(t *testing.T) error {
			tr := &http.Transport{Protocols: new(http.Protocols)}
			tr.Protocols.SetUnencryptedHTTP2(true)
			defer tr.CloseIdleConnections()
			pr, pw := io.Pipe()
			defer pw.Close()
			go trickle(t.Context(), pw)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+st.HTTPAddr+"/v1/events", pr)
			if err != nil {
				return err
			}
			req.Header.Set("X-Api-Key", collectortest.APIKey)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				return nil // reset: cut off too
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Errorf("protocol %s, want HTTP/2", resp.Proto)
			}
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Errorf("status %d, want 408", resp.StatusCode)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			begin := time.Now()
			done := make(chan error, 1)
			go func() { done <- tt.send(t) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * timeout):
				t.Fatalf("a body at a byte per 100ms was still being read after %v", 10*timeout)
			}
			if d := time.Since(begin); d < timeout {
				t.Errorf("cut off after %v, before the timeout %v", d, timeout)
			}
		})
	}
}

// trickle writes a byte every 100ms until ctx ends or a write fails.
func trickle(ctx context.Context, w io.Writer) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
		}
	}
}
