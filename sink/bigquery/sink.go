package bigquery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"cloud.google.com/go/bigquery/storage/managedwriter"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hemlabs/hem/registry/schema"
	"github.com/hemlabs/hem/sink"
)

// Config says which dataset the tables live in and how to reach BigQuery.
type Config struct {
	// Project holds the dataset and is billed for the writes.
	Project string
	// Dataset holds the event tables; it is created when missing.
	Dataset string
	// Location of the dataset when the sink creates it (default US).
	Location string
	// Endpoint overrides the REST endpoint (HEM_BIGQUERY_ENDPOINT). An
	// http:// endpoint is used without credentials.
	Endpoint string
	// WriteEndpoint overrides the Storage Write API endpoint
	// (HEM_BIGQUERY_WRITE_ENDPOINT), host:port. http://host:port, or a
	// loopback host:port, is plaintext without credentials.
	WriteEndpoint string
	// ClientOptions go to both clients (credentials, quota project).
	ClientOptions []option.ClientOption
	// MaxRequestBytes caps one AppendRows request; BigQuery refuses
	// requests over 10 MB. Default 9 MiB, leaving room for the schema.
	MaxRequestBytes int
	// SchemaRetryInterval is how long the sink waits, after the Write API
	// refused a version's new columns, before it tries that version again
	// (default 30s; BigQuery takes minutes to see new columns). Meanwhile
	// events of that version fail with a retryable error.
	SchemaRetryInterval time.Duration
	// Connections caps the Storage Write connections the sink's streams
	// share (default 4): BigQuery guarantees about 1 MB/s per connection.
	Connections int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

const defaultMaxRequestBytes = 9 << 20

// Sink writes events to BigQuery tables through the Storage Write API's
// default stream: at-least-once, so readers dedupe on _event_id (each table
// has a <table>_dedup view that does). Tables are created and evolved from
// the shared mapping; it is also the registry's migrator (Migrate).
type Sink struct {
	cfg Config
	bq  *bigquery.Client
	mw  *managedwriter.Client
	// life outlives any one Write: the write client and its streams keep
	// the context they were opened with for their connections.
	life   context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	tables map[string]*tableState // by subject
}

// tableState is what the sink knows of one table. Writes for one subject
// are not concurrent (the sink contract), migrations may be (registry and
// writes): mu covers both.
type tableState struct {
	mu       sync.Mutex
	name     string
	migrated int                                    // highest version whose columns the table has
	rows     map[int64]*RowSchema                   // row schemas by schema id
	streams  map[int64]*managedwriter.ManagedStream // by the row schema's schema id
	refused  map[int]time.Time                      // version → when the Write API refused its columns
}

// New connects to BigQuery. It does not touch any table until the first
// Migrate or Write.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	if cfg.Project == "" || cfg.Dataset == "" {
		return nil, errors.New("bigquery: a project and a dataset are required")
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = defaultMaxRequestBytes
	}
	if cfg.SchemaRetryInterval == 0 {
		cfg.SchemaRetryInterval = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 4
	}
	restOpts := append([]option.ClientOption{}, cfg.ClientOptions...)
	if cfg.Endpoint != "" {
		restOpts = append(restOpts, option.WithEndpoint(cfg.Endpoint))
		if strings.HasPrefix(cfg.Endpoint, "http://") {
			restOpts = append(restOpts, option.WithoutAuthentication())
		}
	}
	bq, err := bigquery.NewClient(ctx, cfg.Project, restOpts...)
	if err != nil {
		return nil, fmt.Errorf("bigquery: %w", err)
	}
	writeOpts := append([]option.ClientOption{managedwriter.WithMultiplexing(),
		managedwriter.WithMultiplexPoolLimit(cfg.Connections)}, cfg.ClientOptions...)
	if ep := cfg.WriteEndpoint; ep != "" {
		hostPort, plaintext := writeEndpoint(ep)
		writeOpts = append(writeOpts, option.WithEndpoint(hostPort))
		if plaintext {
			writeOpts = append(writeOpts, option.WithoutAuthentication(),
				option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
		}
	}
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	mw, err := managedwriter.NewClient(life, cfg.Project, writeOpts...)
	if err != nil {
		cancel()
		_ = bq.Close()
		return nil, fmt.Errorf("bigquery: storage write client: %w", err)
	}
	return &Sink{cfg: cfg, bq: bq, mw: mw, life: life, cancel: cancel, tables: map[string]*tableState{}}, nil
}

// writeEndpoint strips an http:// scheme; plaintext is for http:// and
// loopback addresses (a local BigQuery-compatible server).
func writeEndpoint(ep string) (hostPort string, plaintext bool) {
	if rest, ok := strings.CutPrefix(ep, "http://"); ok {
		return strings.TrimSuffix(rest, "/"), true
	}
	if u, err := url.Parse("//" + ep); err == nil {
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return ep, true
		}
	}
	return ep, false
}

// Dataset is the dataset the sink writes to.
func (s *Sink) Dataset() *bigquery.Dataset { return s.bq.Dataset(s.cfg.Dataset) }

func (s *Sink) table(subject string) *tableState {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts, ok := s.tables[subject]
	if !ok {
		ts = &tableState{rows: map[int64]*RowSchema{}, streams: map[int64]*managedwriter.ManagedStream{}, refused: map[int]time.Time{}}
		s.tables[subject] = ts
	}
	return ts
}

// Migrate creates the table of a schema version, or adds the columns it
// lacks, and the table's dedup view. It is idempotent and safe to run from
// many processes at once (the patch is conditional on the table's ETag).
func (s *Sink) Migrate(ctx context.Context, sch *schema.Schema) error {
	ts := s.table(sch.Subject)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return s.migrate(ctx, ts, sch, true)
}

// migrate brings the table up to sch; unless force, a version already
// migrated by this process is not checked again.
func (s *Sink) migrate(ctx context.Context, ts *tableState, sch *schema.Schema, force bool) error {
	if !force && ts.migrated >= sch.Version {
		return nil
	}
	t, err := sink.MapTable(sch.Descriptor())
	if err != nil {
		return sink.Permanent(fmt.Errorf("bigquery: %s version %d has no table mapping: %w", sch.Subject, sch.Version, err))
	}
	ts.name = t.Name
	ref := s.Dataset().Table(t.Name)
	want := tableSchema(t.Columns)
	const attempts = 10
	for attempt := 1; ; attempt++ {
		meta, err := ref.Metadata(ctx)
		if isHTTP(err, http.StatusNotFound) {
			err = s.create(ctx, ref, t, want)
			if isHTTP(err, http.StatusConflict) && attempt < attempts {
				continue // another process created it: check its columns
			}
			if err != nil {
				return fmt.Errorf("bigquery: create table %s: %w", t.Name, err)
			}
			break
		}
		if err != nil {
			return fmt.Errorf("bigquery: read table %s: %w", t.Name, err)
		}
		merged, added, err := merge(meta.Schema, want, "")
		if err != nil {
			return sink.Permanent(fmt.Errorf("bigquery: table %s cannot take %s version %d: %w", t.Name, sch.Subject, sch.Version, err))
		}
		if !added {
			break
		}
		_, err = ref.Update(ctx, bigquery.TableMetadataToUpdate{Schema: merged}, meta.ETag)
		if isHTTP(err, http.StatusPreconditionFailed) && attempt < attempts {
			continue // someone else changed the table first: re-read, recompute
		}
		if err != nil {
			return fmt.Errorf("bigquery: add the columns of %s version %d to %s: %w", sch.Subject, sch.Version, t.Name, err)
		}
		break
	}
	if err := s.ensureDedupView(ctx, t.Name); err != nil {
		return err
	}
	ts.migrated = max(ts.migrated, sch.Version)
	return nil
}

func (s *Sink) create(ctx context.Context, ref *bigquery.Table, t *sink.Table, cols bigquery.Schema) error {
	meta := &bigquery.TableMetadata{
		Description: t.Description,
		Schema:      cols,
		TimePartitioning: &bigquery.TimePartitioning{
			Type:  bigquery.DayPartitioningType,
			Field: t.PartitionColumn,
		},
	}
	if t.PartitionExpirationDays > 0 {
		meta.TimePartitioning.Expiration = time.Duration(t.PartitionExpirationDays) * 24 * time.Hour
	}
	if len(t.Clustering) > 0 {
		meta.Clustering = &bigquery.Clustering{Fields: t.Clustering}
	}
	err := ref.Create(ctx, meta)
	if isHTTP(err, http.StatusNotFound) { // no dataset yet
		if err := s.ensureDataset(ctx); err != nil {
			return err
		}
		err = ref.Create(ctx, meta)
	}
	return err
}

func (s *Sink) ensureDataset(ctx context.Context) error {
	loc := s.cfg.Location
	if loc == "" {
		loc = "US"
	}
	err := s.Dataset().Create(ctx, &bigquery.DatasetMetadata{Location: loc,
		Description: "hem event tables: one per event type, written by the hem BigQuery sink."})
	if err != nil && !isHTTP(err, http.StatusConflict) {
		return fmt.Errorf("bigquery: create dataset %s: %w", s.cfg.Dataset, err)
	}
	return nil
}

// DedupView names the view that keeps one row per event id.
func DedupView(table string) string { return table + "_dedup" }

// ensureDedupView creates <table>_dedup: the default stream is
// at-least-once, so analysts query the view to see each event once.
func (s *Sink) ensureDedupView(ctx context.Context, table string) error {
	view := s.Dataset().Table(DedupView(table))
	if _, err := view.Metadata(ctx); err == nil {
		return nil
	} else if !isHTTP(err, http.StatusNotFound) {
		return fmt.Errorf("bigquery: read view %s: %w", view.TableID, err)
	}
	query := fmt.Sprintf("SELECT * EXCEPT (_dedup_rank) FROM (\n"+
		"  SELECT *, ROW_NUMBER() OVER (PARTITION BY %s ORDER BY %s) AS _dedup_rank\n"+
		"  FROM `%s.%s.%s`)\nWHERE _dedup_rank = 1", sink.ColEventID, sink.ColPublishedAt, s.cfg.Project, s.cfg.Dataset, table)
	err := view.Create(ctx, &bigquery.TableMetadata{ViewQuery: query,
		Description: fmt.Sprintf("%s with one row per %s (the first published).", table, sink.ColEventID)})
	if err != nil && !isHTTP(err, http.StatusConflict) {
		return fmt.Errorf("bigquery: create view %s: %w", view.TableID, err)
	}
	return nil
}

// errSchemaPending is why events of a version whose new columns the Write
// API does not accept yet are retried later.
var errSchemaPending = errors.New("BigQuery does not accept the new columns yet (a table change takes minutes to reach the Storage Write API); retrying later")

// Write appends the batch's rows, each with the columns of the newest
// version in the batch. While the Write API does not yet see that version's
// new columns, rows of older versions are written and the newer ones fail
// with a retryable error.
func (s *Sink) Write(ctx context.Context, b *sink.Batch) error {
	if len(b.Events) == 0 {
		return nil
	}
	ts := s.table(b.Subject)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return s.write(ctx, ts, b.Events)
}

func (s *Sink) write(ctx context.Context, ts *tableState, events []*sink.Event) error {
	newest := (&sink.Batch{Events: events}).Newest()
	if err := s.migrate(ctx, ts, newest, false); err != nil {
		return err
	}
	var err error
	if at, ok := ts.refused[newest.Version]; ok && s.cfg.Now().Sub(at) < s.cfg.SchemaRetryInterval {
		err = errSchemaPending
	} else {
		err = s.append(ctx, ts, newest, events)
		if !isSchemaMismatch(err) {
			if err == nil {
				delete(ts.refused, newest.Version)
			}
			return err
		}
		ts.refused[newest.Version] = s.cfg.Now()
		err = fmt.Errorf("%w: %w", errSchemaPending, err)
	}
	// Older versions keep flowing with their own columns.
	failed := map[int]error{}
	var older []*sink.Event
	var olderIdx []int
	for i, e := range events {
		if e.Schema.Version < newest.Version {
			older, olderIdx = append(older, e), append(olderIdx, i)
		} else {
			failed[i] = err
		}
	}
	if len(older) > 0 {
		olderErr := s.write(ctx, ts, older)
		for j, i := range olderIdx {
			if e := sink.ErrorFor(olderErr, j); e != nil {
				failed[i] = e
			}
		}
	}
	return &sink.BatchError{Failed: failed}
}

// append encodes events with the row schema of sch and appends them in
// requests under the size limit.
func (s *Sink) append(ctx context.Context, ts *tableState, sch *schema.Schema, events []*sink.Event) error {
	rs, ms, err := s.stream(ts, sch)
	if err != nil {
		return err
	}
	failed := map[int]error{}
	type request struct {
		rows   [][]byte
		events []int
		result *managedwriter.AppendResult
	}
	var reqs []*request
	cur, size := &request{}, 0
	limit := s.cfg.MaxRequestBytes - rs.schemaSize
	for i, e := range events {
		row, err := rs.AppendRow(nil, e)
		if err != nil {
			failed[i] = sink.Permanent(fmt.Errorf("bigquery: event %s: %w", e.ID, err))
			continue
		}
		n := len(row) + 8 // the row's tag and length in the request
		if n > limit {
			failed[i] = sink.Permanent(fmt.Errorf("bigquery: event %s is a %d-byte row; an AppendRows request takes at most %d", e.ID, len(row), limit))
			continue
		}
		if size+n > limit {
			reqs, cur, size = append(reqs, cur), &request{}, 0
		}
		cur.rows, cur.events, size = append(cur.rows, row), append(cur.events, i), size+n
	}
	if len(cur.rows) > 0 {
		reqs = append(reqs, cur)
	}
	for _, r := range reqs {
		if r.result, err = ms.AppendRows(ctx, r.rows); err != nil {
			for _, i := range r.events {
				failed[i] = fmt.Errorf("bigquery: append to %s: %w", ts.name, err)
			}
		}
	}
	var mismatch error
	for _, r := range reqs {
		if r.result == nil {
			continue
		}
		resp, err := r.result.FullResponse(ctx)
		if rowErrs := resp.GetRowErrors(); len(rowErrs) > 0 {
			// The request was refused as a whole: bad rows are bad for
			// good, the others go again.
			bad := map[int64]string{}
			for _, re := range rowErrs {
				bad[re.GetIndex()] = re.GetMessage()
			}
			for j, i := range r.events {
				if msg, ok := bad[int64(j)]; ok {
					failed[i] = sink.Permanent(fmt.Errorf("bigquery: %s refused event %s: %s", ts.name, events[i].ID, msg))
				} else {
					failed[i] = fmt.Errorf("bigquery: %s refused a request with a bad row; this event was fine and goes again", ts.name)
				}
			}
			continue
		}
		if err != nil {
			if isSchemaMismatch(err) {
				mismatch = err
			}
			for _, i := range r.events {
				failed[i] = fmt.Errorf("bigquery: append to %s: %w", ts.name, err)
			}
		}
	}
	switch {
	case mismatch != nil && len(failed) == len(events):
		return fmt.Errorf("bigquery: append to %s: %w", ts.name, mismatch)
	case len(failed) == 0:
		return nil
	}
	return &sink.BatchError{Failed: failed}
}

// stream returns the row schema of sch and a managed stream writing it to
// the table's default stream. Streams share connections (multiplexing).
func (s *Sink) stream(ts *tableState, sch *schema.Schema) (*RowSchema, *managedwriter.ManagedStream, error) {
	rs, ok := ts.rows[sch.ID]
	if !ok {
		t, err := sink.MapTable(sch.Descriptor())
		if err != nil {
			return nil, nil, sink.Permanent(err)
		}
		if rs, err = NewRowSchema(t); err != nil {
			return nil, nil, sink.Permanent(err)
		}
		ts.rows[sch.ID] = rs
	}
	if ms, ok := ts.streams[sch.ID]; ok {
		return rs, ms, nil
	}
	dest := managedwriter.TableParentFromParts(s.cfg.Project, s.cfg.Dataset, ts.name)
	ms, err := s.mw.NewManagedStream(s.life,
		managedwriter.WithDestinationTable(dest),
		managedwriter.WithType(managedwriter.DefaultStream),
		managedwriter.WithSchemaDescriptor(rs.Descriptor()),
		managedwriter.EnableWriteRetries(true))
	if err != nil {
		return nil, nil, fmt.Errorf("bigquery: open the default stream of %s: %w", ts.name, err)
	}
	ts.streams[sch.ID] = ms
	return rs, ms, nil
}

// PayloadOnly reports that rows are transcoded from Event.Payload and
// Event.Message is never read, so a processor need not decode payloads
// for this sink (processor.PayloadSink).
func (s *Sink) PayloadOnly() bool { return true }

// Close closes the streams and clients; appends already answered are
// durable, so there is nothing to flush.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, ts := range s.tables {
		ts.mu.Lock()
		for _, ms := range ts.streams {
			if err := ms.Close(); err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, err)
			}
		}
		ts.streams = map[int64]*managedwriter.ManagedStream{}
		ts.mu.Unlock()
	}
	errs = append(errs, s.mw.Close(), s.bq.Close())
	s.cancel()
	return errors.Join(errs...)
}

func isHTTP(err error, code int) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == code
}

// isSchemaMismatch reports whether the Write API refused rows because the
// table (as it sees it) lacks their columns.
func isSchemaMismatch(err error) bool {
	if err == nil {
		return false
	}
	st, ok := status.FromError(err) // unwraps, keeping the details
	if !ok {
		return false
	}
	for _, d := range st.Details() {
		if se, ok := d.(*storagepb.StorageError); ok && se.GetCode() == storagepb.StorageError_SCHEMA_MISMATCH_EXTRA_FIELDS {
			return true
		}
	}
	msg := strings.ToLower(st.Message())
	return st.Code() == codes.InvalidArgument && (strings.Contains(msg, "extra field") || strings.Contains(msg, "more fields than"))
}
