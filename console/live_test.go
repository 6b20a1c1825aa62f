package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hemlabs/hem/console"
	"github.com/hemlabs/hem/contract"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
)

// noRegistry is a Registry for pages that do not read it.
type noRegistry struct{}

func (noRegistry) Subjects(context.Context) ([]*registryv1.SubjectInfo, error) { return nil, nil }
func (noRegistry) Versions(context.Context, string) ([]*registryv1.Schema, error) {
	return nil, nil
}
func (noRegistry) Version(context.Context, string, int) (*contract.Schema, error) {
	return nil, errors.New("no registry")
}
func (noRegistry) Register(context.Context, *registryv1.RegisterRequest) (*registryv1.RegisterResponse, error) {
	return nil, errors.New("no registry")
}

func liveConsole(t *testing.T, m console.Metrics) *httptest.Server {
	t.Helper()
	s, err := console.New(console.Deps{Registry: noRegistry{}, Auth: console.KeyAuth(testKey), Metrics: m}, console.WithSampleEvery(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func TestLivePage(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	snap := func(acc, rej float64) *console.Snapshot {
		return &console.Snapshot{
			Accepted:  map[string]float64{"shop.orders.v1.OrderPlaced": acc},
			Rejected:  map[string]float64{"shop.orders.v1.OrderPlaced": rej},
			P99:       map[string]float64{"shop.orders.v1.OrderPlaced": 0.0125},
			Backlog:   map[string]float64{"hem-events-duckdb": 1234},
			OldestAge: map[string]time.Duration{"hem-events-duckdb": 95 * time.Second},
		}
	}
	m := &scripted{clock: clock, snaps: []*console.Snapshot{snap(100, 4), snap(350, 9)}}
	ts := liveConsole(t, m)

	// The first look samples once: values, no rate yet.
	p := get(t, ts, "/ui/live")
	if p.Status != 200 {
		t.Fatalf("status %d: %s", p.Status, p.text())
	}
	mustContain(t, p, "shop.orders.v1.OrderPlaced", "12.5 ms", "hem-events-duckdb", "1,234", "1 min 35 s", "no dead-letter topic")
	if !strings.Contains(p.Body, `data-live="/ui/live/data"`) || !strings.Contains(p.Body, "<svg class=\"spark\"") {
		t.Error("the page has no live hook or no sparkline")
	}

	// 10 s later the data has rates: 250 accepted and 5 rejected in 10 s.
	clock.Add(10 * time.Second)
	d := get(t, ts, "/ui/live/data")
	if d.Status != 200 {
		t.Fatalf("data status %d: %s", d.Status, d.Body)
	}
	var data struct {
		At   time.Time `json:"at"`
		Rows []struct {
			Key   string            `json:"key"`
			Cells map[string]string `json:"cells"`
			Spark string            `json:"spark"`
		} `json:"rows"`
		Subjects []console.SubjectLive `json:"subjects"`
	}
	if err := json.Unmarshal([]byte(d.Body), &data); err != nil {
		t.Fatal(err)
	}
	cells := map[string]map[string]string{}
	for _, r := range data.Rows {
		cells[r.Key] = r.Cells
		if !strings.Contains(r.Spark, "<polyline") {
			t.Errorf("row %s: no sparkline in %q", r.Key, r.Spark)
		}
	}
	if c := cells["s:shop.orders.v1.OrderPlaced"]; c["accepted"] != "25/s" || c["rejected"] != "0.5/s" {
		t.Errorf("subject cells %v, want 25/s accepted and 0.5/s rejected", c)
	}
	if c := cells["p:hem-events-duckdb"]; c["backlog"] != "1,234" || c["dead"] != "no dead-letter topic" {
		t.Errorf("processor cells %v", c)
	}
	if len(data.Subjects) != 1 || *data.Subjects[0].Accepted != 25 {
		t.Errorf("raw subjects %+v", data.Subjects)
	}
}

func TestLivePageWithoutMetrics(t *testing.T) {
	t.Parallel()
	ts := liveConsole(t, nil)
	p := get(t, ts, "/ui/live")
	if p.Status != 200 {
		t.Fatalf("status %d", p.Status)
	}
	mustContain(t, p, "Not configured", "Cloud Monitoring")
	if d := get(t, ts, "/ui/live/data"); d.Status != 404 || !strings.Contains(d.Body, "no metrics source") {
		t.Errorf("data: %d %s, want 404 naming the missing source", d.Status, d.Body)
	}
}

// Metrics that cannot be read: the page says so (not a 500), the data
// answers 503 with the reason.
func TestLivePageMetricsDown(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	m := &scripted{clock: clock, snaps: []*console.Snapshot{{}}, errs: []error{errors.New("connection refused"), errors.New("connection refused")}}
	ts := liveConsole(t, m)
	p := get(t, ts, "/ui/live")
	if p.Status != 200 {
		t.Fatalf("status %d", p.Status)
	}
	mustContain(t, p, "The metrics could not be read", "connection refused")
	if d := get(t, ts, "/ui/live/data"); d.Status != 503 || !strings.Contains(d.Body, "connection refused") {
		t.Errorf("data: %d %s, want 503 with the reason", d.Status, d.Body)
	}
}

func TestLiveNeedsAKey(t *testing.T) {
	t.Parallel()
	ts := liveConsole(t, &scripted{clock: &fakeClock{}, snaps: []*console.Snapshot{{}}})
	for _, path := range []string{"/ui/live", "/ui/live/data"} {
		p := getPage(t, ts.URL, path) // with the key: fine
		if p.Status != 200 {
			t.Errorf("%s with the key: %d", path, p.Status)
		}
		resp, err := browser(t).Get(ts.URL + path) // no redirects followed
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 300 {
			t.Errorf("%s without a key: %d, want the login page or 401", path, resp.StatusCode)
		}
	}
}
