package bigquerytest_test

import (
	"net/http"
	"testing"

	"cloud.google.com/go/bigquery"
)

// TestViewQueries: a view's query is taken as BigQuery takes it when it
// compiles it at creation: standard SQL over tables that exist, windows
// over their columns; legacy SQL (BigQuery's default) does not take a
// `project.dataset.table` name; a change of the query is checked again.
func TestViewQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createTable(t, "events", bigquery.Schema{
		{Name: "sku", Type: bigquery.StringFieldType},
		{Name: "_event_id", Type: bigquery.StringFieldType, Required: true},
		{Name: "_event_time", Type: bigquery.TimestampFieldType, Required: true},
		{Name: "_received_at", Type: bigquery.TimestampFieldType},
	})
	const latest = "SELECT * EXCEPT (_latest_rank) FROM (\n" +
		"  SELECT *, ROW_NUMBER() OVER (PARTITION BY `sku` ORDER BY _event_time DESC, _received_at DESC NULLS LAST, _event_id DESC) AS _latest_rank\n" +
		"  FROM `proj.ds.events`\n  WHERE `sku` IS NOT NULL)\nWHERE _latest_rank = 1"
	tests := []struct {
		name   string
		md     bigquery.TableMetadata
		code   int
		reason string
	}{
		{name: "latest view", md: bigquery.TableMetadata{ViewQuery: latest}},
		{name: "dataset-relative name", md: bigquery.TableMetadata{ViewQuery: "SELECT * FROM `ds.events`"}},
		{name: "legacy SQL with a standard name", md: bigquery.TableMetadata{ViewQuery: latest, UseLegacySQL: true}, code: http.StatusBadRequest, reason: "invalidQuery"},
		{name: "missing table", md: bigquery.TableMetadata{ViewQuery: "SELECT * FROM `proj.ds.nope`"}, code: http.StatusNotFound, reason: "notFound"},
		{name: "window over an unknown column", md: bigquery.TableMetadata{ViewQuery: "SELECT *, ROW_NUMBER() OVER (PARTITION BY `name` ORDER BY _event_time DESC) AS r FROM `proj.ds.events`"},
			code: http.StatusBadRequest, reason: "invalidQuery"},
		{name: "ordered by an unknown column", md: bigquery.TableMetadata{ViewQuery: "SELECT *, ROW_NUMBER() OVER (PARTITION BY sku ORDER BY _published_at) AS r FROM `proj.ds.events`"},
			code: http.StatusBadRequest, reason: "invalidQuery"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.ds.Table("v"+string(rune('a'+i))).Create(t.Context(), &tc.md)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("create: %v", err)
				}
				return
			}
			if ae := apiError(t, err); ae.Code != tc.code || ae.Errors[0].Reason != tc.reason {
				t.Fatalf("create: %v, want %d %s", err, tc.code, tc.reason)
			}
		})
	}

	view := e.ds.Table("latest")
	if err := view.Create(t.Context(), &bigquery.TableMetadata{ViewQuery: latest}); err != nil {
		t.Fatal(err)
	}
	_, err := view.Update(t.Context(), bigquery.TableMetadataToUpdate{ViewQuery: "SELECT * FROM `proj.ds.gone`"}, "")
	if ae := apiError(t, err); ae.Code != http.StatusNotFound {
		t.Errorf("update to a query over a missing table: %v, want 404", err)
	}
}
