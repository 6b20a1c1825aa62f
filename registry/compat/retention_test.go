package compat_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hemlabs/hem/registry/compat"
)

// withEventOptions sets the event option of base to opts.
func withEventOptions(t *testing.T, opts string) string {
	t.Helper()
	old := `option (hem.options.v1.event) = {entity_key_field: "order_id"};`
	if !strings.Contains(base, old) {
		t.Fatal("base lost its event option")
	}
	return strings.Replace(base, old, `option (hem.options.v1.event) = {entity_key_field: "order_id" `+opts+`};`, 1)
}

func TestRetentionOptionsLint(t *testing.T) {
	t.Parallel()
	cases := []struct {
		opts, want string // want "" for none
	}{
		{`partition_expiration_days: 90 archive_retention_days: 3650 archive_cold_after_days: 30 archive_cold_storage_class: "ARCHIVE"`, ""},
		{`archive_cold_after_days: 30`, ""}, // COLDLINE by default, kept for ever
		{`partition_expiration_days: -1`, "partition_expiration_days must not be negative"},
		{`archive_retention_days: -7`, "archive_retention_days must not be negative"},
		{`archive_cold_after_days: -1`, "archive_cold_after_days must not be negative"},
		{`archive_retention_days: 30 archive_cold_after_days: 30`, "archive_cold_after_days (30) must be less than archive_retention_days (30)"},
		{`archive_cold_after_days: 30 archive_cold_storage_class: "STANDARD"`, `archive_cold_storage_class "STANDARD" is not a colder GCS storage class`},
		{`archive_cold_storage_class: "coldline"`, `archive_cold_storage_class "coldline"`},
	}
	for _, c := range cases {
		t.Run(c.opts, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, v := range compat.Lint(version(t, withEventOptions(t, c.opts))) {
				if v.Rule == "EV-L10" {
					got = append(got, v.Message)
				}
			}
			switch {
			case c.want == "" && len(got) > 0:
				t.Fatalf("refused: %q", got)
			case c.want != "" && (len(got) != 1 || !strings.Contains(got[0], c.want)):
				t.Fatalf("got %q, want one EV-L10 saying %q", got, c.want)
			}
		})
	}
}

func TestRetentionShortened(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		from, to string
		n        int      // violations
		wants    []string // what they say
	}{
		{"unchanged", `partition_expiration_days: 90`, `partition_expiration_days: 90`, 0, nil},
		{"longer", `partition_expiration_days: 90 archive_retention_days: 365`, `partition_expiration_days: 400 archive_retention_days: 0`, 0, nil},
		{"colder sooner", `archive_cold_after_days: 90`, `archive_cold_after_days: 30 archive_cold_storage_class: "ARCHIVE"`, 0, nil},
		{"warehouse", `partition_expiration_days: 365`, `partition_expiration_days: 90`, 1,
			[]string{"partition_expiration_days shortened from 365 to 90 days: BigQuery deletes the partitions of table acme_orders_v1_order_created dated 2025-12-08 to 2026-09-08 (275 days)"}},
		{"warehouse from for ever", ``, `partition_expiration_days: 90`, 1,
			[]string{"shortened from for ever to 90 days", "dated up to 2026-09-08"}},
		{"archive", `archive_retention_days: 3650`, `archive_retention_days: 365`, 1,
			[]string{"archive_retention_days shortened from 3650 to 365 days", "events/type=acme.orders.v1.OrderCreated/ written 2016-12-10 to 2025-12-07 (3285 days)"}},
		{"both", `partition_expiration_days: 30 archive_retention_days: 400`, `partition_expiration_days: 7 archive_retention_days: 300`, 2,
			[]string{"partition_expiration_days", "archive_retention_days"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			prev, cand := version(t, withEventOptions(t, c.from)), version(t, withEventOptions(t, c.to))
			got := compat.Retention(cand, prev, now, nil)
			if len(got) != c.n {
				t.Fatalf("got %d violations, want %d: %v", len(got), c.n, got)
			}
			all := ""
			for _, v := range got {
				if v.Rule != compat.RetentionRule || v.Path != "acme.orders.v1.OrderCreated" {
					t.Errorf("violation %v: want rule %s on the subject", v, compat.RetentionRule)
				}
				if !strings.Contains(v.Message, "hem schema push --acknowledge-retention acme.orders.v1.OrderCreated") {
					t.Errorf("%q does not say how to acknowledge", v.Message)
				}
				all += v.Message + "\n"
			}
			for _, w := range c.wants {
				if !strings.Contains(all, w) {
					t.Errorf("violations do not say %q:\n%s", w, all)
				}
			}
			if compat.Retention(cand, nil, now, nil) != nil {
				t.Error("a first version was refused")
			}
		})
	}
}
