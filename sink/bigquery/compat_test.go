package bigquery_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	bq "cloud.google.com/go/bigquery"
	_ "github.com/duckdb/duckdb-go/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
	"github.com/hemlabs/hem/sink/sinktest"
)

// A server with a smaller request limit than the sink's refuses the
// batch's request: the sink splits it until it fits, and a row too big to
// go alone fails for good, alone.
func TestRequestRefusedAsTooLargeIsSplit(t *testing.T) {
	t.Parallel()
	const serverLimit = 64 << 10
	s, srv := newSink(t, bigquery.Config{}, bigquerytest.WithMaxRequestBytes(serverLimit)) // the sink's default: 9 MiB
	placed := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	evs := sinktest.Events(t, placed, 1500) // ~0.5 MB of rows
	huge := sinktest.Events(t, placed, 1)[0]
	gift := placed.Descriptor().Fields().ByName("gift_message")
	huge.Message.Set(gift, protoreflect.ValueOfString(strings.Repeat("x", serverLimit)))
	huge.Payload, _ = proto.Marshal(huge.Message.Interface())
	evs = append(evs[:700], append([]*sink.Event{huge}, evs[700:]...)...)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := s.Write(ctx, &sink.Batch{Subject: placed.Subject, Events: evs})
	var be *sink.BatchError
	if !errors.As(err, &be) || len(be.Failed) != 1 || !sink.IsPermanent(be.Failed[700]) {
		t.Fatalf("want only the oversized event failed for good, got %v", err)
	}
	t.Log(be.Failed[700])
	if got := rowCount(t, srv, placed.Subject); got != 1500 {
		t.Fatalf("%d rows, want 1500", got)
	}
}

// A server that reads every request of a connection with the connection's
// first writer schema stores NULL in the payload columns of a second table
// whose streams share the connection; without multiplexing every stream
// has its own connection and the values are stored.
func TestMultiplexingCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		disable   bool
		wantValid bool
	}{
		{"multiplexed", false, false},
		{"not multiplexed", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, srv := newSink(t, bigquery.Config{DisableMultiplexing: tt.disable}, bigquerytest.WithConnectionSchema())
			all := sinktest.Schemas(t)
			for _, subject := range []string{"shop.orders.v1.OrderPlaced", "shop.products.v1.ProductCreated"} {
				sch := all[subject]
				evs := sinktest.Events(t, sch, 3)
				if err := s.Write(t.Context(), &sink.Batch{Subject: subject, Events: evs}); err != nil {
					t.Fatal(err)
				}
				got, err := tableRows(t, srv, subject)
				if err != nil {
					t.Fatal(err)
				}
				same := len(got) == len(evs)
				for i := 0; same && i < len(evs); i++ {
					for col, v := range sinktest.Expected(evs[i]) { // got may have version 2's note, NULL
						if !reflect.DeepEqual(got[i][col], v) {
							same = false
							t.Logf("%s row %d, column %s: got %#v, want %#v", subject, i, col, got[i][col], v)
							break
						}
					}
				}
				if !same && (tt.wantValid || subject == "shop.orders.v1.OrderPlaced") {
					t.Fatalf("%s: the rows are not the events written", subject)
				}
				if same && !tt.wantValid && subject != "shop.orders.v1.OrderPlaced" {
					t.Fatalf("%s: the server read a multiplexed second table right; the fake's mode does not behave like the server", subject)
				}
			}
		})
	}
}

// A server that accepts and drops fields the table lacks would lose the
// values of a new column written before it sees the column: the sink
// checks the Write API's schema of the table before writing a new version.
func TestNewColumnIsConfirmedBeforeWriting(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	s, srv := newSink(t, bigquery.Config{Now: clk.Now, SchemaRetryInterval: time.Minute},
		bigquerytest.WithSchemaPropagationDelay(5*time.Minute), bigquerytest.WithClock(clk.Now), bigquerytest.WithDropUnknownFields())
	ctx := t.Context()
	v1, v2 := sinktest.V2(t)
	if err := s.Migrate(ctx, v1); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx, v2); err != nil {
		t.Fatal(err)
	}
	newer := notedEvents(t, 4)
	err := s.Write(ctx, &sink.Batch{Subject: v1.Subject, Events: newer})
	if err == nil || sink.IsPermanent(sink.ErrorFor(err, 0)) {
		t.Fatalf("version 2 before the Write API sees note: %v, want a retryable error", err)
	}
	clk.Add(6 * time.Minute)
	if err := s.Write(ctx, &sink.Batch{Subject: v1.Subject, Events: newer}); err != nil {
		t.Fatalf("version 2 after the column propagated: %v", err)
	}
	rows, err := tableRows(t, srv, v1.Subject)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r["note"] != "leave at the door" {
			t.Fatalf("row %v lost its note: %v", r[contract.ColEventID], r["note"])
		}
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4", len(rows))
	}
}

// A server without ETags gets an unconditional patch: the sink says so and
// checks the columns are there afterwards.
func TestPatchWithoutETagIsNoticed(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	s, srv := newSink(t, bigquery.Config{Logger: log}, bigquerytest.WithoutETags())
	v1, v2 := sinktest.V2(t)
	for _, v := range []*contract.Schema{v1, v2} {
		if err := s.Migrate(t.Context(), v); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(logs.String(), "no ETag") {
		t.Fatalf("no warning about the unconditional patch; log:\n%s", logs.String())
	}
	client, err := bq.NewClient(t.Context(), project, srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	table, _ := contract.MapTable(v2.Descriptor())
	meta, err := client.Dataset(dataset).Table(table.Name).Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Schema) != len(table.Columns) {
		t.Fatalf("%d columns, want %d", len(meta.Schema), len(table.Columns))
	}
}

// The dedup view numbers rows within (partition column, event id), so a
// filter on the partition column reaches the table scan and prunes
// partitions. DuckDB's planner stands in for BigQuery's: both push a
// filter below a window only on the window's PARTITION BY columns.
// VERIFY.md says what to check on BigQuery itself.
func TestDedupViewLetsPartitionFiltersThrough(t *testing.T) {
	t.Parallel()
	placed := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	table, err := contract.MapTable(placed.Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	query := bigquery.DedupQuery(project, dataset, table)
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ddl := fmt.Sprintf("CREATE TABLE %s (_event_id VARCHAR, _published_at TIMESTAMP, %s TIMESTAMP, total DOUBLE)", table.Name, table.PartitionColumn)
	view := strings.NewReplacer("* EXCEPT", "* EXCLUDE", fmt.Sprintf("`%s.%s.%s`", project, dataset, table.Name), table.Name).Replace(query)
	// Rows on both sides of the filter: DuckDB 1.5 plans a scan of an
	// empty table as EMPTY_RESULT, with no scan to look at.
	rows := fmt.Sprintf("INSERT INTO %s VALUES ('a', TIMESTAMP '2026-01-02', TIMESTAMP '2026-01-02', 1), ('b', TIMESTAMP '2025-12-30', TIMESTAMP '2025-12-30', 2)", table.Name)
	for _, q := range []string{ddl, rows, "CREATE VIEW dedup AS " + view} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var kind, plan string
	if err := db.QueryRowContext(t.Context(), fmt.Sprintf("EXPLAIN SELECT * FROM dedup WHERE %s >= TIMESTAMP '2026-01-01'", table.PartitionColumn)).Scan(&kind, &plan); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(plan, "SEQ_SCAN")
	if i < 0 {
		t.Fatalf("no table scan in the plan:\n%s", plan)
	}
	scan := plan[i:]
	if !regexp.MustCompile(`(?s)Filters:.*` + table.PartitionColumn).MatchString(scan) {
		t.Fatalf("the filter on %s stays above the window:\n%s", table.PartitionColumn, plan)
	}
}

// A dedup view made by an older hem (window by _event_id alone) is
// replaced by the next migration of its table.
func TestOldDedupViewIsReplaced(t *testing.T) {
	t.Parallel()
	s, srv := newSink(t, bigquery.Config{})
	placed := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	if err := s.Migrate(t.Context(), placed); err != nil {
		t.Fatal(err)
	}
	client, err := bq.NewClient(t.Context(), project, srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	table, _ := contract.MapTable(placed.Descriptor())
	view := client.Dataset(dataset).Table(bigquery.DedupView(table.Name))
	old := "SELECT * EXCEPT (_dedup_rank) FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY _event_id ORDER BY _published_at) AS _dedup_rank FROM `" +
		project + "." + dataset + "." + table.Name + "`) WHERE _dedup_rank = 1"
	if _, err := view.Update(t.Context(), bq.TableMetadataToUpdate{ViewQuery: old}, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(t.Context(), placed); err != nil {
		t.Fatal(err)
	}
	meta, err := view.Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if meta.ViewQuery != bigquery.DedupQuery(project, dataset, table) || meta.UseLegacySQL {
		t.Fatalf("view query after the migration (legacy SQL %v):\n%s", meta.UseLegacySQL, meta.ViewQuery)
	}
}
