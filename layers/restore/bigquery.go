package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/layers/verify"
	"github.com/hemlabs/hem/sink"
	bqsink "github.com/hemlabs/hem/sink/bigquery"
)

// BigQuery is a restore into a BigQuery dataset: the restore table is
// created with an expiration time (BigQuery deletes it then), and the
// rows go in as one load job of newline-delimited JSON, streamed to the
// job's upload as they are read. It is not partitioned: a dataset's
// default partition expiration would drop old partitions at once.
type BigQuery struct {
	client  *bigquery.Client
	dataset string

	table *bigquery.Table
	shape *contract.Table
	pipe  *io.PipeWriter
	done  chan error
	line  []byte
}

var _ Target = (*BigQuery)(nil)

// NewBigQuery restores into dataset through client.
func NewBigQuery(client *bigquery.Client, dataset string) *BigQuery {
	return &BigQuery{client: client, dataset: dataset}
}

// Begin implements Target: an existing table of that name is deleted
// first. When the dataset has source, the restore table takes its schema
// (every version's columns; the restored rows fill those they have).
func (b *BigQuery) Begin(ctx context.Context, table, source string, shape *contract.Schema, expires time.Time) error {
	t, err := contract.MapTable(shape.Descriptor())
	if err != nil {
		return err
	}
	ds := b.client.Dataset(b.dataset)
	schema := bqsink.TableSchema(t)
	meta, err := ds.Table(source).Metadata(ctx)
	switch {
	case err == nil && len(meta.Schema) > 0:
		schema = meta.Schema
	case err != nil && !notFound(err):
		return fmt.Errorf("bigquery: table %s: %w", source, err)
	}
	b.table = ds.Table(table)
	if err := b.table.Delete(ctx); err != nil && !notFound(err) {
		return fmt.Errorf("bigquery: replace %s: %w", table, err)
	}
	err = b.table.Create(ctx, &bigquery.TableMetadata{
		Schema:         schema,
		ExpirationTime: expires,
		Description:    fmt.Sprintf("hem restore of %s from the archive; expires %s", shape.Subject, expires.UTC().Format(time.RFC3339)),
		Labels:         map[string]string{"hem-restore": "true"},
	})
	if err != nil {
		return fmt.Errorf("bigquery: create %s: %w", table, err)
	}
	b.shape = t
	return nil
}

func notFound(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == http.StatusNotFound
}

// start begins the load job, reading what Write sends through a pipe.
func (b *BigQuery) start(ctx context.Context) {
	pr, pw := io.Pipe()
	b.pipe, b.done = pw, make(chan error, 1)
	src := bigquery.NewReaderSource(pr)
	src.SourceFormat = bigquery.JSON
	l := b.table.LoaderFrom(src)
	l.CreateDisposition = bigquery.CreateNever
	l.WriteDisposition = bigquery.WriteTruncate
	go func() {
		err := func() error {
			job, err := l.Run(ctx)
			if err != nil {
				return err
			}
			status, err := job.Wait(ctx)
			if err != nil {
				return err
			}
			return status.Err()
		}()
		// A failed job stops the writer too.
		pr.CloseWithError(errors.Join(err, errors.New("bigquery: the load job ended")))
		b.done <- err
	}()
}

// Write implements Target.
func (b *BigQuery) Write(ctx context.Context, events []*sink.Event) error {
	if b.pipe == nil {
		b.start(ctx)
	}
	line := b.line[:0]
	var err error
	for _, e := range events {
		if line, err = appendJSON(line, b.shape, e); err != nil {
			return err
		}
	}
	b.line = line
	if _, err := b.pipe.Write(line); err != nil {
		return fmt.Errorf("bigquery: load %s: %w", b.table.TableID, err)
	}
	return nil
}

// Abort ends the upload with err: the load job fails, nothing is loaded.
func (b *BigQuery) Abort(err error) {
	if b.pipe != nil {
		_ = b.pipe.CloseWithError(err)
		<-b.done
		b.pipe = nil
	}
}

// Finish implements Target: it ends the upload and waits for the load job.
func (b *BigQuery) Finish(ctx context.Context, since, until time.Time) (map[time.Time]verify.Sum, error) {
	if b.pipe != nil {
		_ = b.pipe.Close()
		if err := <-b.done; err != nil {
			return nil, fmt.Errorf("bigquery: load %s: %w", b.table.TableID, err)
		}
	}
	return verify.BigQuerySums(ctx, b.client, b.dataset, b.table.TableID, since, until)
}
