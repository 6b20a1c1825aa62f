package bigquery_test

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	bq "cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/sinktest"
)

// TestLatestViewShape: the migration of a contract with an entity key
// makes <table>_latest beside <table>_dedup, in standard SQL, with the
// query LatestQuery says; a contract without a key gets none. The fake
// compiles view queries as BigQuery does for the tables and columns they
// name, so a view over a column the table lacks fails here.
func TestLatestViewShape(t *testing.T) {
	t.Parallel()
	s, srv := newSink(t, bigquery.Config{})
	client, err := bq.NewClient(t.Context(), project, srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	keyed, unkeyed := 0, 0
	// Every sample event has a key; the failed events' table has none.
	schemas := []*contract.Schema{contract.FailedEventSchema()}
	for _, sch := range sinktest.Schemas(t) {
		schemas = append(schemas, sch)
	}
	for _, sch := range schemas {
		table, err := contract.MapTable(sch.Descriptor())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(t.Context(), sch); err != nil {
			t.Fatalf("migrate %s: %v", sch.Subject, err)
		}
		meta, err := client.Dataset(dataset).Table(bigquery.LatestView(table.Name)).Metadata(t.Context())
		if table.EntityKey == "" {
			unkeyed++
			var ae *googleapi.Error
			if !asAPIError(err, &ae) || ae.Code != http.StatusNotFound {
				t.Errorf("%s has no entity key, yet its _latest view: %v", sch.Subject, err)
			}
			continue
		}
		keyed++
		if err != nil {
			t.Fatalf("%s: %v", sch.Subject, err)
		}
		if meta.Type != bq.ViewTable || meta.UseLegacySQL || meta.ViewQuery != bigquery.LatestQuery(project, dataset, table) {
			t.Errorf("%s: view %s (legacy SQL %v):\n%s", sch.Subject, meta.Type, meta.UseLegacySQL, meta.ViewQuery)
		}
		if !strings.Contains(meta.ViewQuery, "PARTITION BY `"+table.EntityKey+"`") {
			t.Errorf("%s: the window is not by the key %s:\n%s", sch.Subject, table.EntityKey, meta.ViewQuery)
		}
	}
	if keyed == 0 || unkeyed == 0 {
		t.Fatalf("%d keyed and %d unkeyed sample contracts: the test needs both", keyed, unkeyed)
	}
}

// TestLatestViewLetsKeyFiltersThrough: the latest view's window is by the
// entity key alone, so a filter on the key reaches the table scan (and a
// clustered table prunes blocks), and a filter on the partition column
// does not (it filters the latest rows: pushed below the window it would
// change the answer). DuckDB's planner stands in for BigQuery's, as for
// the dedup view; VERIFY.md says what to check on BigQuery.
func TestLatestViewLetsKeyFiltersThrough(t *testing.T) {
	t.Parallel()
	created := sinktest.Schemas(t)["shop.products.v1.ProductCreated"]
	table, err := contract.MapTable(created.Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	query := bigquery.LatestQuery(project, dataset, table)
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ddl := fmt.Sprintf("CREATE TABLE %s (_event_id VARCHAR, _event_time TIMESTAMP, _received_at TIMESTAMP, %s VARCHAR, price DOUBLE)", table.Name, table.EntityKey)
	view := strings.NewReplacer("* EXCEPT", "* EXCLUDE", "`", `"`, fmt.Sprintf("`%s.%s.%s`", project, dataset, table.Name), table.Name).
		Replace(strings.ReplaceAll(query, fmt.Sprintf("`%s.%s.%s`", project, dataset, table.Name), table.Name))
	// Rows, or the planner answers from the empty table's statistics.
	rows := fmt.Sprintf("INSERT INTO %s SELECT 'e' || i, TIMESTAMP '2026-01-01' + INTERVAL (i) HOUR, NULL, 'SKU-' || (i %% 7), i FROM range(100) t(i)", table.Name)
	for _, q := range []string{ddl, rows, "CREATE VIEW latest AS " + view} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	pushed := func(filter, column string) bool {
		var kind, plan string
		if err := db.QueryRowContext(t.Context(), "EXPLAIN SELECT * FROM latest WHERE "+filter).Scan(&kind, &plan); err != nil {
			t.Fatal(err)
		}
		i := strings.Index(plan, "SEQ_SCAN")
		if i < 0 {
			t.Fatalf("no scan in the plan of %s:\n%s", filter, plan)
		}
		scan := plan[i:]
		return regexp.MustCompile(`(?s)Filters:.*` + column).MatchString(scan)
	}
	if !pushed(table.EntityKey+" = 'SKU-1'", table.EntityKey+"='SKU-1'") {
		t.Errorf("the filter on the key %s stays above the window", table.EntityKey)
	}
	if pushed("_event_time >= TIMESTAMP '2026-01-01'", "_event_time") {
		t.Errorf("the filter on _event_time went below the window: the view would answer the latest row within the filter")
	}
}

func asAPIError(err error, ae **googleapi.Error) bool { return errors.As(err, ae) }
