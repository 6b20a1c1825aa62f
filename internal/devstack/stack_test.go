package devstack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hemlabs/hem/client"
	"github.com/hemlabs/hem/internal/devstack"
	"github.com/hemlabs/hem/internal/loadgen"
	"github.com/hemlabs/hem/registry"
)

func start(t *testing.T, dir string) *devstack.Stack {
	t.Helper()
	return startWith(t, devstack.Config{Dir: dir, ProtoDir: "../../proto"})
}

// startWith starts a stack of cfg on free loopback ports.
func startWith(t *testing.T, cfg devstack.Config) *devstack.Stack {
	t.Helper()
	cfg.PubSubAddr, cfg.GCSAddr, cfg.RegistryAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.CollectorAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 20 * time.Second
	}
	st, err := devstack.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// t.Context is canceled before cleanups run, and Close given a canceled
	// context stops waiting for the services: they would still write into
	// the test's folder while it is removed.
	t.Cleanup(func() { _ = st.Close(context.WithoutCancel(t.Context())) })
	return st
}

func sql(t *testing.T, st *devstack.Stack, q string) [][]any {
	t.Helper()
	status, body := post(t, st, "/v1/sql", q, keyed(st))
	var out struct {
		Rows  [][]any `json:"rows"`
		Error string  `json:"error"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Error != "" || status != http.StatusOK {
		t.Fatalf("%s: %d %v %s", q, status, err, body)
	}
	return out.Rows
}

// rows counts the rows of every event table and of _failed_events.
func rows(t *testing.T, st *devstack.Stack) (events, failed int) {
	t.Helper()
	// Event tables only: rollup tables (no _event_id) hold aggregates.
	tables := sql(t, st, "select table_name from information_schema.tables where table_name like 'shop_%' and table_type = 'BASE TABLE' "+
		"and table_name in (select table_name from information_schema.columns where column_name = '_event_id')")
	for _, tb := range tables {
		n := sql(t, st, fmt.Sprintf(`select count(*) from "%s"`, tb[0]))[0][0]
		events += int(n.(float64))
	}
	if len(sql(t, st, "select table_name from information_schema.tables where table_name = '_failed_events'")) == 1 {
		failed = int(sql(t, st, "select count(*) from _failed_events")[0][0].(float64))
	}
	return events, failed
}

func TestDevStackEndToEndAndRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := start(t, dir)
	if ready, err := http.Get("http://" + st.HTTPAddr + "/readyz"); err != nil || ready.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", ready, err)
	}
	if len(st.Pushed) != 14 || st.PushErr != nil {
		t.Fatalf("registered %d contracts (%v), want the 12 sample event types and 2 rollups", len(st.Pushed), st.PushErr)
	}
	c, err := client.New(t.Context(), st.CollectorAddr, client.WithAPIKey(st.APIKey))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := loadgen.Run(t.Context(), c, loadgen.Config{Rate: 1000, Duration: time.Second, InvalidShare: 0.1, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close(t.Context())
	if rep.Accepted == 0 || rep.Rejected == 0 || rep.Failed != 0 {
		t.Fatalf("loadgen: %v", rep)
	}
	deadline := time.Now().Add(20 * time.Second)
	var events, failed int
	for time.Now().Before(deadline) {
		if events, failed = rows(t, st); events == int(rep.Accepted) && failed == int(rep.Rejected) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if events != int(rep.Accepted) || failed != int(rep.Rejected) {
		t.Fatalf("warehouse holds %d events and %d failures; loadgen counted %d accepted and %d rejected", events, failed, rep.Accepted, rep.Rejected)
	}
	if err := st.Close(t.Context()); err != nil {
		t.Fatal(err)
	}

	// A restart keeps schemas (same ids, UNCHANGED) and the warehouse.
	again := start(t, dir)
	for i, r := range again.Pushed {
		if r.Outcome != registry.OutcomeUnchanged || r.Schema.ID != st.Pushed[i].Schema.ID {
			t.Fatalf("after a restart %s is %v id %d, want UNCHANGED id %d", r.Subject, r.Outcome, r.Schema.ID, st.Pushed[i].Schema.ID)
		}
	}
	if e, f := rows(t, again); e != events || f != failed {
		t.Fatalf("after a restart the warehouse holds %d and %d rows, want %d and %d", e, f, events, failed)
	}
}
