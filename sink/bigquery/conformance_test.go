package bigquery_test

import (
	"context"
	"testing"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
	"github.com/hemlabs/hem/sink/sinktest"
)

const (
	project = "hem-test"
	dataset = "hem_events"
)

// newSink starts a BigQuery fake and a sink writing to it through the
// official clients.
func newSink(t *testing.T, cfg bigquery.Config, opts ...bigquerytest.Option) (*bigquery.Sink, *bigquerytest.Server) {
	t.Helper()
	srv, err := bigquerytest.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg.Project, cfg.Dataset = project, dataset
	cfg.Endpoint, cfg.WriteEndpoint = srv.RESTEndpoint(), srv.WriteEndpoint()
	s, err := bigquery.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, srv
}

func TestConformance(t *testing.T) {
	t.Parallel()
	sinktest.Run(t, func(t *testing.T) *sinktest.Harness {
		s, srv := newSink(t, bigquery.Config{})
		return &sinktest.Harness{Sink: s, Migrate: s.Migrate, Rows: func(ctx context.Context, subject string) ([]sinktest.Row, error) {
			return tableRows(t, srv, subject)
		}}
	})
}

// tableRows reads a subject's rows from the fake, normalized with the
// columns of the newest sample version.
func tableRows(t *testing.T, srv *bigquerytest.Server, subject string) ([]sinktest.Row, error) {
	s := sinktest.Schemas(t)[subject]
	if subject == contract.FailedEventSchema().Subject {
		s = contract.FailedEventSchema()
	}
	if _, v2 := sinktest.V2(t); subject == v2.Subject {
		s = v2
	}
	table, err := contract.MapTable(s.Descriptor())
	if err != nil {
		return nil, err
	}
	raw, err := srv.Rows(project, dataset, table.Name)
	if err != nil {
		return nil, err
	}
	out := make([]sinktest.Row, len(raw))
	for i, r := range raw {
		out[i] = normalizeRow(table.Columns, r)
	}
	return out, nil
}
