package registry_test

import (
	"strings"
	"testing"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/registry"
)

const rollupEvent = `syntax = "proto3";
package acme.sales.v1;
import "google/protobuf/timestamp.proto";
import "hem/options/v1/options.proto";
message Sold {
  option (hem.options.v1.event) = {};
  string store = 1;
  int64 micros = 2;
  google.protobuf.Timestamp at = 3;
}
`

func rollupContract(fields string) string {
	return `syntax = "proto3";
package acme.sales.v1;
import "google/protobuf/timestamp.proto";
import "hem/options/v1/options.proto";
message Daily {
  option (hem.options.v1.rollup) = {source: "acme.sales.v1.Sold" grain: GRAIN_DAY time_column: "at"};
  google.protobuf.Timestamp day = 1 [(hem.options.v1.field).rollup.bucket = true];
  string store = 2 [(hem.options.v1.field).rollup.dimension = "store"];
  int64 sales = 3 [(hem.options.v1.field).rollup.aggregate = AGGREGATE_COUNT];
` + fields + `}
`
}

func rollupSchemas(t *testing.T, withEvent bool, fields string) []*contract.Schema {
	t.Helper()
	files := map[string]string{"acme/sales/v1/daily.proto": rollupContract(fields), "acme/sales/v1/sold.proto": rollupEvent}
	src, err := contract.CompileSources(t.Context(), files)
	if err != nil {
		t.Fatal(err)
	}
	var out []*contract.Schema
	names := []string{"acme.sales.v1.Daily"}
	if withEvent {
		names = append(names, "acme.sales.v1.Sold")
	}
	for _, n := range names {
		s, err := src.Schema(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func onlyResult(t *testing.T, res []registry.Result, subject string) registry.Result {
	t.Helper()
	for _, r := range res {
		if r.Subject == subject {
			return r
		}
	}
	t.Fatalf("no result for %s", subject)
	return registry.Result{}
}

// A rollup is a subject: admitted with its source (in the same push or
// already registered), refused without one, and evolution-checked: a new
// measure is a new version, a new dimension needs a new major.
func TestRollupAdmission(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	ctx := t.Context()

	res, err := r.Register(ctx, rollupSchemas(t, false, ""))
	if err != nil {
		t.Fatal(err)
	}
	if got := onlyResult(t, res, "acme.sales.v1.Daily"); got.Outcome != registry.OutcomeRejected ||
		len(got.Violations) != 1 || got.Violations[0].Rule != "EV-R02" || !strings.Contains(got.Violations[0].Message, "not a registered event type") {
		t.Fatalf("without its source: %+v", got)
	}

	res, err = r.Register(ctx, rollupSchemas(t, true, ""))
	if err != nil {
		t.Fatal(err)
	}
	if got := onlyResult(t, res, "acme.sales.v1.Daily"); got.Outcome != registry.OutcomeNew || !got.Schema.IsRollup() {
		t.Fatalf("with its source: %+v", got)
	}

	added := `  int64 micros = 4 [(hem.options.v1.field).rollup = {aggregate: AGGREGATE_SUM of: "micros"}];
`
	res, err = r.Register(ctx, rollupSchemas(t, false, added))
	if err != nil {
		t.Fatal(err)
	}
	if got := onlyResult(t, res, "acme.sales.v1.Daily"); got.Outcome != registry.OutcomeNew || got.Schema.Version != 2 {
		t.Fatalf("a new measure: %+v", got)
	}

	dimension := added + `  int64 at_micros = 5 [(hem.options.v1.field).rollup.dimension = "micros"];
`
	res, err = r.Register(ctx, rollupSchemas(t, false, dimension))
	if err != nil {
		t.Fatal(err)
	}
	got := onlyResult(t, res, "acme.sales.v1.Daily")
	if got.Outcome != registry.OutcomeRejected || len(got.Violations) == 0 || got.Violations[0].Rule != "EV-R03" {
		t.Fatalf("a new dimension: %+v", got)
	}

	changed := `  int64 micros = 4 [(hem.options.v1.field).rollup = {aggregate: AGGREGATE_MAX of: "micros"}];
`
	res, err = r.Register(ctx, rollupSchemas(t, false, changed))
	if err != nil {
		t.Fatal(err)
	}
	got = onlyResult(t, res, "acme.sales.v1.Daily")
	if got.Outcome != registry.OutcomeRejected || got.Violations[0].Rule != "EV-R03" || !strings.Contains(got.Violations[0].Message, "AGGREGATE_MAX(micros)") {
		t.Fatalf("a changed measure: %+v", got)
	}
}
