package bigquerytest_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"cloud.google.com/go/bigquery/storage/managedwriter"
	"cloud.google.com/go/bigquery/storage/managedwriter/adapt"
	"github.com/bufbuild/protocompile"
	"google.golang.org/api/googleapi"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
)

const (
	projectID = "proj"
	datasetID = "ds"
)

// sampleSchema is a fresh table schema with a required, a nullable, a
// repeated and a record column.
func sampleSchema() bigquery.Schema {
	return bigquery.Schema{
		{Name: "id", Type: bigquery.StringFieldType, Required: true},
		{Name: "n", Type: bigquery.IntegerFieldType},
		{Name: "tags", Type: bigquery.StringFieldType, Repeated: true},
		{Name: "rec", Type: bigquery.RecordFieldType, Schema: bigquery.Schema{{Name: "a", Type: bigquery.StringFieldType}}},
	}
}

// env is a fake server with the real clients pointed at it and dataset ds
// created.
type env struct {
	srv *bigquerytest.Server
	bq  *bigquery.Client
	mw  *managedwriter.Client
	ds  *bigquery.Dataset
}

func newEnv(t testing.TB, opts ...bigquerytest.Option) *env {
	t.Helper()
	srv, err := bigquerytest.NewServer(opts...)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(srv.Close)
	ctx := context.Background()
	bq, err := bigquery.NewClient(ctx, projectID, srv.ClientOptions()...)
	if err != nil {
		t.Fatalf("bigquery.NewClient: %v", err)
	}
	t.Cleanup(func() {
		if err := bq.Close(); err != nil {
			t.Errorf("close the REST client: %v", err)
		}
	})
	mw, err := managedwriter.NewClient(ctx, projectID, srv.WriteClientOptions()...)
	if err != nil {
		t.Fatalf("managedwriter.NewClient: %v", err)
	}
	t.Cleanup(func() {
		if err := mw.Close(); err != nil {
			t.Errorf("close the write client: %v", err)
		}
	})
	ds := bq.Dataset(datasetID)
	if err := ds.Create(t.Context(), &bigquery.DatasetMetadata{Location: "US"}); err != nil {
		t.Fatalf("create dataset: %v", err)
	}
	return &env{srv: srv, bq: bq, mw: mw, ds: ds}
}

func (e *env) createTable(t *testing.T, table string, schema bigquery.Schema) *bigquery.Table {
	t.Helper()
	tb := e.ds.Table(table)
	if err := tb.Create(t.Context(), &bigquery.TableMetadata{Schema: schema}); err != nil {
		t.Fatalf("create table %s: %v", table, err)
	}
	return tb
}

// messageDescriptor compiles proto source and returns message Row.
func messageDescriptor(t *testing.T, src string) protoreflect.MessageDescriptor {
	t.Helper()
	c := protocompile.Compiler{Resolver: &protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"row.proto": src}),
	}}
	files, err := c.Compile(t.Context(), "row.proto")
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	for i := range files[0].Messages().Len() {
		if md := files[0].Messages().Get(i); md.Name() == "Row" {
			return md
		}
	}
	t.Fatal("no message Row")
	return nil
}

// encode serializes rows given in protojson. Proto2 required fields may be
// left out, to test what the server does with them.
func encode(t *testing.T, md protoreflect.MessageDescriptor, rows ...string) [][]byte {
	t.Helper()
	out := make([][]byte, len(rows))
	for i, r := range rows {
		m := dynamicpb.NewMessage(md)
		if err := (protojson.UnmarshalOptions{AllowPartial: true}).Unmarshal([]byte(r), m); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		out[i] = b
	}
	return out
}

// writer is a managed default-stream writer for one table and descriptor.
type writer struct {
	ms *managedwriter.ManagedStream
}

func (e *env) writer(t *testing.T, table string, md protoreflect.MessageDescriptor) (*writer, error) {
	t.Helper()
	dp, err := adapt.NormalizeDescriptor(md)
	if err != nil {
		t.Fatalf("NormalizeDescriptor: %v", err)
	}
	ms, err := e.mw.NewManagedStream(t.Context(),
		managedwriter.WithDestinationTable(managedwriter.TableParentFromParts(projectID, datasetID, table)),
		managedwriter.WithType(managedwriter.DefaultStream),
		managedwriter.WithSchemaDescriptor(dp),
	)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		// The library reports a stream closed in good order as io.EOF.
		if err := ms.Close(); err != nil && !errors.Is(err, io.EOF) {
			t.Errorf("close the stream: %v", err)
		}
	})
	return &writer{ms: ms}, nil
}

func (e *env) mustWriter(t *testing.T, table string, md protoreflect.MessageDescriptor) *writer {
	t.Helper()
	w, err := e.writer(t, table, md)
	if err != nil {
		t.Fatalf("NewManagedStream: %v", err)
	}
	return w
}

// append sends one AppendRows request and waits for its response.
func (w *writer) append(t *testing.T, rows [][]byte) (*storagepb.AppendRowsResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, err := w.ms.AppendRows(ctx, rows)
	if err != nil {
		return nil, err
	}
	return res.FullResponse(ctx)
}

func (e *env) rows(t *testing.T, table string) []map[string]any {
	t.Helper()
	rows, err := e.srv.Rows(projectID, datasetID, table)
	if err != nil {
		t.Fatalf("Rows: %v", err)
	}
	return rows
}

func apiError(t *testing.T, err error) *googleapi.Error {
	t.Helper()
	var e *googleapi.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *googleapi.Error", err, err)
	}
	return e
}

// clock is a settable clock for WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
