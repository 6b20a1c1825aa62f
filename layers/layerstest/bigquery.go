package layerstest

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"

	bqsink "github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
)

// BigQuery starts the BigQuery fake with an empty dataset "hem" in project
// "proj", and returns a client of it and the events sink writing there.
// now is the fake's and the sink's clock; nil is the real one.
func BigQuery(t testing.TB, now func() time.Time) (*bigquery.Client, *bqsink.Sink) {
	t.Helper()
	ctx := t.Context()
	var opts []bigquerytest.Option
	if now != nil {
		opts = append(opts, bigquerytest.WithClock(now))
	}
	srv, err := bigquerytest.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	bq, err := bigquery.NewClient(ctx, "proj", srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bq.Close() })
	if err := bq.Dataset("hem").Create(ctx, &bigquery.DatasetMetadata{Location: "US"}); err != nil {
		t.Fatal(err)
	}
	s, err := bqsink.New(ctx, bqsink.Config{Project: "proj", Dataset: "hem", Endpoint: srv.RESTEndpoint(), WriteEndpoint: srv.WriteEndpoint(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.WithoutCancel(ctx)) })
	return bq, s
}
