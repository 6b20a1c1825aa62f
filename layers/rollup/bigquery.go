package rollup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/hemlabs/hem/contract"
	sinkbq "github.com/hemlabs/hem/sink/bigquery"
)

// BigQueryConfig places a BigQuery Runner's tables.
type BigQueryConfig struct {
	// Project runs (and pays for) the query jobs and holds both datasets.
	Project string
	// EventsDataset holds the event tables and their dedup views.
	EventsDataset string
	// Dataset holds the rollup tables; it is created when missing.
	Dataset string
	// Location of Dataset when the runner creates it (default US).
	Location string
}

// Labels of a rollup table that hold its state.
const (
	labelVersion   = "hem_rollup_version"
	labelWatermark = "hem_rollup_watermark"
)

// NewBigQuery returns a Runner on BigQuery through c. A rollup reads the
// source's <table>_dedup view (one row per event id).
func NewBigQuery(c *bigquery.Client, cfg BigQueryConfig, opts ...RunnerOption) (*Runner, error) {
	if cfg.Project == "" || cfg.EventsDataset == "" || cfg.Dataset == "" {
		return nil, errors.New("rollup: BigQuery needs a project, an events dataset and a rollup dataset")
	}
	return newRunner(&bqEngine{c: c, cfg: cfg}, opts), nil
}

type bqEngine struct {
	c   *bigquery.Client
	cfg BigQueryConfig
}

type bqDialect struct{}

func (bqDialect) ident(s string) string { return "`" + s + "`" }

func (bqDialect) timestamp(t time.Time) string {
	return "TIMESTAMP '" + t.UTC().Format("2006-01-02 15:04:05.999999") + "+00'"
}

func (bqDialect) floor(x string, size time.Duration) string {
	if size == time.Hour {
		return "TIMESTAMP_TRUNC(" + x + ", HOUR)"
	}
	return "TIMESTAMP_TRUNC(" + x + ", DAY)"
}

func (bqDialect) sum(x string, _ contract.Type) string { return "SUM(" + x + ")" }

func (bqDialect) distinct(x string) string { return "APPROX_COUNT_DISTINCT(" + x + ")" }

var bq dialect = bqDialect{}

func (e *bqEngine) table(j *Job) *bigquery.Table {
	return e.c.DatasetInProject(e.cfg.Project, e.cfg.Dataset).Table(j.Table())
}

func (e *bqEngine) source(table string) string {
	return "`" + e.cfg.Project + "." + e.cfg.EventsDataset + "." + table + "`"
}

func isHTTP(err error, code int) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == code
}

// ensure creates the rollup table (day partitions on the bucket, expiring
// after the rollup's retention, clustered by its first dimensions) or adds
// the columns of new measures, and keeps its expiration the rollup's.
func (e *bqEngine) ensure(ctx context.Context, j *Job) error {
	t := j.Rollup.Table
	ref := e.table(j)
	meta, err := ref.Metadata(ctx)
	if isHTTP(err, http.StatusNotFound) {
		return e.create(ctx, ref, t)
	}
	if err != nil {
		return fmt.Errorf("read table %s: %w", t.Name, err)
	}
	var upd bigquery.TableMetadataToUpdate
	changed := false
	schema := meta.Schema
	for _, f := range sinkbq.TableSchema(t) {
		if !hasField(schema, f.Name) {
			schema = append(schema, f)
			changed = true
		}
	}
	if changed {
		upd.Schema = schema
	}
	if want := expiration(t); meta.TimePartitioning != nil && meta.TimePartitioning.Expiration != want {
		tp := *meta.TimePartitioning
		tp.Expiration = want
		upd.TimePartitioning = &tp
		changed = true
	}
	if !changed {
		return nil
	}
	if _, err := ref.Update(ctx, upd, meta.ETag); err != nil {
		return fmt.Errorf("update table %s: %w", t.Name, err)
	}
	return nil
}

func hasField(s bigquery.Schema, name string) bool {
	for _, f := range s {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

func expiration(t *contract.Table) time.Duration {
	return time.Duration(t.PartitionExpirationDays) * 24 * time.Hour
}

func (e *bqEngine) create(ctx context.Context, ref *bigquery.Table, t *contract.Table) error {
	meta := &bigquery.TableMetadata{
		Description: t.Description,
		Schema:      sinkbq.TableSchema(t),
		TimePartitioning: &bigquery.TimePartitioning{
			Type:       bigquery.DayPartitioningType,
			Field:      t.PartitionColumn,
			Expiration: expiration(t),
		},
	}
	if len(t.Clustering) > 0 {
		meta.Clustering = &bigquery.Clustering{Fields: t.Clustering}
	}
	err := ref.Create(ctx, meta)
	if isHTTP(err, http.StatusNotFound) { // no dataset yet
		loc := e.cfg.Location
		if loc == "" {
			loc = "US"
		}
		derr := e.c.DatasetInProject(e.cfg.Project, e.cfg.Dataset).Create(ctx, &bigquery.DatasetMetadata{Location: loc,
			Description: "hem rollups: tables of aggregates computed by hem rollup run."})
		if derr != nil && !isHTTP(derr, http.StatusConflict) {
			return fmt.Errorf("create dataset %s: %w", e.cfg.Dataset, derr)
		}
		err = ref.Create(ctx, meta)
	}
	if err != nil && !isHTTP(err, http.StatusConflict) {
		return fmt.Errorf("create table %s: %w", t.Name, err)
	}
	return nil
}

func (e *bqEngine) state(ctx context.Context, j *Job) (state, error) {
	meta, err := e.table(j).Metadata(ctx)
	if isHTTP(err, http.StatusNotFound) {
		return state{}, nil
	}
	if err != nil {
		return state{}, err
	}
	v, ok := meta.Labels[labelVersion]
	if !ok {
		return state{}, nil
	}
	st := state{found: true, version: v}
	if us, err := strconv.ParseInt(meta.Labels[labelWatermark], 10, 64); err == nil && us > 0 {
		st.watermark = time.UnixMicro(us).UTC()
	}
	return st, nil
}

func (e *bqEngine) query(sql string) *bigquery.Query {
	q := e.c.Query(sql)
	q.Location = e.cfg.Location
	return q
}

func (e *bqEngine) touched(ctx context.Context, j *Job, since time.Time) ([]time.Time, time.Time, int64, error) {
	// The table itself, not its dedup view: a duplicate touches the same
	// day as its original.
	job, err := e.query(touchedSQL(bq, j, e.source(j.Source.Name), since)).Run(ctx)
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	it, err := job.Read(ctx)
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	var days []time.Time
	var latest time.Time
	for {
		var r struct {
			D       time.Time              `bigquery:"d"`
			Arrived bigquery.NullTimestamp `bigquery:"arrived"`
		}
		err := it.Next(&r)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, time.Time{}, 0, err
		}
		days = append(days, r.D.UTC())
		if r.Arrived.Valid && r.Arrived.Timestamp.After(latest) {
			latest = r.Arrived.Timestamp.UTC()
		}
	}
	return days, latest, processed(job), nil
}

func processed(job *bigquery.Job) int64 {
	if st := job.LastStatus(); st != nil && st.Statistics != nil {
		return st.Statistics.TotalBytesProcessed
	}
	return 0
}

func (e *bqEngine) recompute(ctx context.Context, j *Job, days []time.Time, next state, opts Options, rep *Report) error {
	if len(days) == 0 {
		return e.storeState(ctx, j, next, opts)
	}
	source := e.source(sinkbq.DedupView(j.Source.Name))
	// One dry run over every day: the source is read with the same filters
	// as the per-day jobs, so it scans what they will scan together.
	dry := e.query(selectSQL(bq, j, source, days[0], days[len(days)-1].AddDate(0, 0, 1), days))
	dry.DryRun = true
	job, err := dry.Run(ctx)
	if err != nil {
		return fmt.Errorf("dry run: %w", err)
	}
	rep.BytesEstimated = processed(job)
	if opts.MaxBytes > 0 && rep.BytesEstimated > opts.MaxBytes {
		return fmt.Errorf("%d partitions would scan %d bytes, over the budget of %d: %w", len(days), rep.BytesEstimated, opts.MaxBytes, ErrOverBudget)
	}
	if opts.DryRun {
		return nil
	}
	for _, d := range days {
		q := e.query(selectSQL(bq, j, source, d, d.AddDate(0, 0, 1), nil))
		// One job per day partition: WRITE_TRUNCATE replaces the
		// partition atomically with the query's rows.
		q.Dst = e.c.DatasetInProject(e.cfg.Project, e.cfg.Dataset).Table(j.Table() + "$" + d.Format("20060102"))
		q.WriteDisposition = bigquery.WriteTruncate
		q.CreateDisposition = bigquery.CreateNever
		q.MaxBytesBilled = opts.MaxBytes
		job, err := q.Run(ctx)
		if err != nil {
			return fmt.Errorf("recompute %s: %w", d.Format(time.DateOnly), err)
		}
		st, err := job.Wait(ctx)
		if err == nil {
			err = st.Err()
		}
		if err != nil {
			return fmt.Errorf("recompute %s: %w", d.Format(time.DateOnly), err)
		}
		rep.BytesProcessed += processed(job)
		n, err := e.rows(ctx, job)
		if err != nil {
			return fmt.Errorf("recompute %s: %w", d.Format(time.DateOnly), err)
		}
		rep.Rows += n
	}
	return e.storeState(ctx, j, next, opts)
}

// storeState moves the watermark, after every partition is replaced: a
// run that failed half way is done again by the next.
func (e *bqEngine) storeState(ctx context.Context, j *Job, next state, opts Options) error {
	if opts.DryRun {
		return nil
	}
	var upd bigquery.TableMetadataToUpdate
	upd.SetLabel(labelVersion, next.version)
	upd.SetLabel(labelWatermark, strconv.FormatInt(next.watermark.UnixMicro(), 10))
	if _, err := e.table(j).Update(ctx, upd, ""); err != nil {
		return fmt.Errorf("store the watermark: %w", err)
	}
	return nil
}

// rows is how many rows a finished query job returned (and so wrote).
func (e *bqEngine) rows(ctx context.Context, job *bigquery.Job) (int64, error) {
	it, err := job.Read(ctx)
	if err != nil {
		return 0, err
	}
	it.PageInfo().MaxSize = 1
	var discard []bigquery.Value
	if err := it.Next(&discard); err != nil && !errors.Is(err, iterator.Done) {
		return 0, err
	}
	return int64(it.TotalRows), nil
}
