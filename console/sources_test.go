package console_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hemlabs/hem/console"
	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/registry/localgcs/localgcstest"
	"github.com/hemlabs/hem/source/ledger"
)

var _ console.Ledger = (*ledger.Ledger)(nil)

func sourcesConsole(t *testing.T, l console.Ledger) *httptest.Server {
	t.Helper()
	s, err := console.New(console.Deps{Registry: noRegistry{}, Auth: console.KeyAuth(testKey), Ledger: l})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func TestSourcesPage(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	l := ledger.New(localgcstest.Client(t, "ledger").Bucket("ledger"), "ledger")
	load := func(source, uri string, status sourcev1.Status, records, accepted, rejected int64, reason string) {
		t.Helper()
		e, claimed, err := l.Claim(ctx, &sourcev1.LedgerEntry{Source: source, Uri: uri, Generation: 1}, "test", time.Minute)
		if err != nil || !claimed {
			t.Fatalf("claim %s: %v %v", uri, claimed, err)
		}
		e.Status, e.Records, e.Accepted, e.Rejected, e.Reason = status, records, accepted, rejected, reason
		if err := l.Update(ctx, e, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	load("orders-csv", "gs://inbox/orders/2026-11-22.csv", sourcev1.Status_STATUS_LOADED, 1200, 1198, 2, "")
	load("orders-csv", "gs://inbox/orders/broken.csv", sourcev1.Status_STATUS_QUARANTINED, 100, 40, 60, "60% of the records were rejected")
	load("members-parquet", "gs://inbox/members/m.parquet", sourcev1.Status_STATUS_LOADING, 10, 10, 0, "")
	ts := sourcesConsole(t, l)

	tests := []struct {
		name, path string
		status     int
		want       []string
		not        []string
	}{
		{"every source", "/ui/sources", 200,
			[]string{"gs://inbox/orders/2026-11-22.csv", "loaded", "1,200", "1,198", "quarantined", "60% of the records were rejected", "members-parquet", "loading"}, nil},
		{"one source", "/ui/sources?source=orders-csv", 200,
			[]string{"broken.csv", "2026-11-22.csv"}, []string{"m.parquet"}},
		{"one status", "/ui/sources?status=quarantined", 200,
			[]string{"broken.csv"}, []string{"2026-11-22.csv", "m.parquet"}},
		{"unknown source", "/ui/sources?source=nope", 404, []string{"The ledger has no source “nope”"}, nil},
		{"bad source name", "/ui/sources?source=a/b", 400, []string{"A source name has no “/”"}, nil},
		{"bad status", "/ui/sources?status=exploded", 400, []string{"There is no load status “exploded”"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := get(t, ts, tt.path)
			if p.Status != tt.status {
				t.Errorf("status %d, want %d", p.Status, tt.status)
			}
			mustContain(t, p, tt.want...)
			for _, n := range tt.not {
				if strings.Contains(p.text(), n) {
					t.Errorf("page shows %q", n)
				}
			}
		})
	}
}

func TestSourcesPageNotConfigured(t *testing.T) {
	t.Parallel()
	p := get(t, sourcesConsole(t, nil), "/ui/sources")
	if p.Status != 200 {
		t.Errorf("status %d", p.Status)
	}
	mustContain(t, p, "Not configured")
}
