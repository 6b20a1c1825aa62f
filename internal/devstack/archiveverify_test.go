package devstack_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hemlabs/hem/client"
	"github.com/hemlabs/hem/internal/devstack"
	"github.com/hemlabs/hem/sink/sinktest/sample"
)

// TestDevVerifiesTheArchive: hem dev compares its archive with its
// warehouse on a schedule and shows the result on /metrics.
func TestDevVerifiesTheArchive(t *testing.T) {
	t.Parallel()
	st := startWith(t, devstack.Config{Dir: t.TempDir(), ProtoDir: "../../proto", DrainTimeout: time.Second,
		ArchiveVerifyInterval: 500 * time.Millisecond})
	c, err := client.New(t.Context(), st.CollectorAddr, client.WithAPIKey(st.APIKey))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := sample.NewGenerator(3, []string{"shop.orders.v1.OrderPlaced"}, 0)
	// Two hours old: verify leaves out the last hour, which the sinks may
	// still be writing.
	at := time.Now().Add(-2 * time.Hour)
	for range 20 {
		c.Emit(t.Context(), g.Next().Message, client.WithEventTime(at))
	}
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Until both sinks wrote the events a run may see a gap; then it reads 0.
	waitFor(t, "the verify gauge at 0", func() bool {
		_, body := do(t, st, "GET", "/metrics", nil, keyed(st))
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "hem_archive_verify_gaps{") && strings.Contains(line, `type="shop.orders.v1.OrderPlaced"`) && strings.HasSuffix(line, " 0") {
				return strings.Contains(string(body), "hem_archive_verify_last_run")
			}
		}
		return false
	})
}
