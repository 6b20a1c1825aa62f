package bigquery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/bigquery/storage/managedwriter"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hemlabs/hem/contract"
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
	// FieldKeys, when set, gives each table with encrypted fields a
	// <table>_decrypted view (DecryptedQuery). Nil: no such view.
	FieldKeys *FieldKeys
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
	// requests over 10 MB. Default 9 MiB, leaving room for the schema. A
	// request the server refuses as too large is split in halves and sent
	// again; set this to the limit of a server with a smaller one to avoid
	// the round trips.
	MaxRequestBytes int
	// SchemaRetryInterval is how long the sink waits, after the Write API
	// did not show (or refused) a version's new columns, before it tries
	// that version again
	// (default 30s; BigQuery takes minutes to see new columns). Meanwhile
	// events of that version fail with a retryable error.
	SchemaRetryInterval time.Duration
	// Connections caps the Storage Write connections the sink's streams
	// share (default 4): BigQuery guarantees about 1 MB/s per connection.
	Connections int
	// DisableMultiplexing gives every stream (one per table and schema
	// version) its own connection instead of sharing Connections of them:
	// more connections, each with its own share of BigQuery's throughput.
	// Google's BigQuery multiplexes; turn it off for a BigQuery-API server
	// that reads all of a connection's requests with its first writer
	// schema.
	DisableMultiplexing bool
	// WriteTimeout bounds how long a Write waits for BigQuery's answers
	// before it fails with a retryable ErrUnavailable (default 30s). A
	// Write fails sooner, after a couple of seconds, when the Storage
	// Write API cannot be reached at all (see Sink.Health).
	WriteTimeout time.Duration
	// Logger receives warnings the sink cannot return as errors (a table
	// patched without an ETag precondition). Nil discards them.
	Logger *slog.Logger
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
	life   context.Context //nolint:containedctx // the sink's lifetime (above), not a call's; Close cancels it
	cancel context.CancelFunc

	health health
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
	cancels  []context.CancelFunc                   // of the streams' contexts
	refused  map[int]time.Time                      // version → when the Write API refused its columns
}

// New connects to BigQuery. It does not touch any table until the first
// Migrate or Write.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	if cfg.Project == "" || cfg.Dataset == "" {
		return nil, errors.New("bigquery: a project and a dataset are required")
	}
	if cfg.FieldKeys != nil {
		if err := cfg.FieldKeys.validate(); err != nil {
			return nil, err
		}
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
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
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
	s := &Sink{cfg: cfg, bq: bq, tables: map[string]*tableState{}}
	writeOpts := []option.ClientOption{
		// The library reports nothing while it reconnects: health learns
		// from the calls themselves.
		option.WithGRPCDialOption(grpc.WithChainUnaryInterceptor(s.health.unaryInterceptor)),
		option.WithGRPCDialOption(grpc.WithChainStreamInterceptor(s.health.streamInterceptor)),
		// gRPC waits up to 2 minutes between reconnects by default; after
		// an outage, writes should resume sooner.
		option.WithGRPCDialOption(grpc.WithConnectParams(grpc.ConnectParams{Backoff: reconnectBackoff, MinConnectTimeout: 20 * time.Second})),
	}
	if !cfg.DisableMultiplexing {
		writeOpts = append(writeOpts, managedwriter.WithMultiplexing(), managedwriter.WithMultiplexPoolLimit(cfg.Connections))
	}
	writeOpts = append(writeOpts, cfg.ClientOptions...)
	if ep := cfg.WriteEndpoint; ep != "" {
		hostPort, plaintext := writeEndpoint(ep)
		writeOpts = append(writeOpts, option.WithEndpoint(hostPort))
		if plaintext {
			writeOpts = append(writeOpts, option.WithoutAuthentication(),
				option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
		}
	}
	s.life, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if s.mw, err = managedwriter.NewClient(s.life, cfg.Project, writeOpts...); err != nil {
		s.cancel()
		_ = bq.Close()
		return nil, fmt.Errorf("bigquery: storage write client: %w", err)
	}
	return s, nil
}

// reconnectBackoff is gRPC's default reconnect backoff with a 10 s ceiling
// instead of 120 s.
var reconnectBackoff = backoff.Config{BaseDelay: time.Second, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 10 * time.Second}

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
// lacks, and the table's dedup view (and latest view, with an entity key). It is idempotent and safe to run from
// many processes at once (the patch is conditional on the table's ETag).
// A rollup's version gets its rollup table (contract.ParseRollup): the
// mapped columns, partitioned by day on the bucket, expiring after the
// rollup's retention.
func (s *Sink) Migrate(ctx context.Context, sch *contract.Schema) error {
	ts := s.table(sch.Subject)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return s.migrate(ctx, ts, sch, true)
}

// migrate brings the table up to sch; unless force, a version already
// migrated by this process is not checked again.
func (s *Sink) migrate(ctx context.Context, ts *tableState, sch *contract.Schema, force bool) error {
	if !force && ts.migrated >= sch.Version {
		return nil
	}
	t, err := contract.MapTable(sch.Descriptor())
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
		// The contract's retention: a version may change it (shortening is
		// acknowledged at admission, EV-D01).
		var upd bigquery.TableMetadataToUpdate
		if added {
			upd.Schema = merged
		}
		if want := time.Duration(t.PartitionExpirationDays) * 24 * time.Hour; meta.TimePartitioning != nil && meta.TimePartitioning.Expiration != want {
			tp := *meta.TimePartitioning
			tp.Expiration = want
			upd.TimePartitioning = &tp
		}
		if upd.Schema == nil && upd.TimePartitioning == nil {
			break
		}
		if meta.ETag == "" {
			// Without an ETag the patch cannot be made conditional: a
			// concurrent patch may be overwritten. Say so, and read the
			// table again after the patch to check the columns are there.
			s.cfg.Logger.Warn("bigquery: the server sent no ETag; the table is patched without a precondition and checked afterwards",
				"table", t.Name, "subject", sch.Subject, "version", sch.Version)
		}
		_, err = ref.Update(ctx, upd, meta.ETag)
		if isHTTP(err, http.StatusPreconditionFailed) && attempt < attempts {
			continue // someone else changed the table first: re-read, recompute
		}
		if err != nil {
			return fmt.Errorf("bigquery: bring %s up to %s version %d (columns, partition expiration): %w", t.Name, sch.Subject, sch.Version, err)
		}
		if meta.ETag == "" {
			if attempt == attempts {
				return fmt.Errorf("bigquery: %s: the columns of %s version %d did not stay in the table after %d unconditional patches (the server sends no ETag)", t.Name, sch.Subject, sch.Version, attempts)
			}
			continue
		}
		break
	}
	if t.Rollup {
		// A rollup's table holds one row per group already, and no
		// metadata columns: it has no dedup or latest view.
		ts.migrated = max(ts.migrated, sch.Version)
		return nil
	}
	if err := s.ensureView(ctx, DedupView(t.Name), DedupQuery(s.cfg.Project, s.cfg.Dataset, t),
		fmt.Sprintf("%s with one row per %s (the first published).", t.Name, contract.ColEventID)); err != nil {
		return err
	}
	if t.EntityKey != "" {
		if err := s.ensureView(ctx, LatestView(t.Name), LatestQuery(s.cfg.Project, s.cfg.Dataset, t),
			fmt.Sprintf("%s with one row per %s: the latest event of each.", t.Name, t.EntityKey)); err != nil {
			return err
		}
	}
	if s.cfg.FieldKeys != nil {
		if q := DecryptedQuery(s.cfg.Project, s.cfg.Dataset, t, sch.Options().GetDataSubjectField(), *s.cfg.FieldKeys); q != "" {
			if err := s.ensureView(ctx, DecryptedView(t.Name), q,
				fmt.Sprintf("%s with its encrypted fields in clear, for those who may decrypt with the field KEK.", t.Name)); err != nil {
				return err
			}
		}
	}
	ts.migrated = max(ts.migrated, sch.Version)
	return nil
}

func (s *Sink) create(ctx context.Context, ref *bigquery.Table, t *contract.Table, cols bigquery.Schema) error {
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

// ensureView creates the view name with query, or replaces a view whose
// query is not the current one. The default stream is at-least-once, so
// analysts query <table>_dedup to see each event once; <table>_latest
// shows the latest event of each entity.
func (s *Sink) ensureView(ctx context.Context, name, query, description string) error {
	view := s.Dataset().Table(name)
	meta, err := view.Metadata(ctx)
	switch {
	case err == nil && meta.ViewQuery == query:
		return nil
	case err == nil:
		// useLegacySql is sent too: BigQuery's default for a view is true.
		_, err = view.Update(ctx, bigquery.TableMetadataToUpdate{ViewQuery: query, UseLegacySQL: false}, meta.ETag)
		if err != nil && !isHTTP(err, http.StatusPreconditionFailed) { // a concurrent update wrote it
			return fmt.Errorf("bigquery: update view %s: %w", view.TableID, err)
		}
		return nil
	case !isHTTP(err, http.StatusNotFound):
		return fmt.Errorf("bigquery: read view %s: %w", view.TableID, err)
	}
	err = view.Create(ctx, &bigquery.TableMetadata{ViewQuery: query, Description: description})
	if err != nil && !isHTTP(err, http.StatusConflict) {
		return fmt.Errorf("bigquery: create view %s: %w", view.TableID, err)
	}
	return nil
}

// DedupQuery is the query of a table's dedup view: the first published row
// of each event id. The window is partitioned by the table's partition
// column too, so that BigQuery can push a filter on that column below the
// window and prune partitions (duplicates of an event share it: it comes
// from the event time or the payload). VERIFY.md says how to check it on
// BigQuery.
func DedupQuery(project, dataset string, t *contract.Table) string {
	return fmt.Sprintf("SELECT * EXCEPT (_dedup_rank) FROM (\n"+
		"  SELECT *, ROW_NUMBER() OVER (PARTITION BY %s, %s ORDER BY %s) AS _dedup_rank\n"+
		"  FROM `%s.%s.%s`)\nWHERE _dedup_rank = 1", t.PartitionColumn, contract.ColEventID, contract.ColPublishedAt, project, dataset, t.Name)
}

// LatestView names the view of a table with an entity key that keeps the
// latest row of each entity.
func LatestView(table string) string { return table + "_latest" }

// LatestQuery is the query of a table's latest view: of the rows of each
// entity key, the one with the latest _event_time, then the latest
// _received_at, then the greatest _event_id (a stable choice; duplicates
// of one event are equal on all three and either will do). Rows without a
// key are left out. A corrected re-export of an entity lands as newer
// rows, which the view shows instead of the old ones.
//
// The window is partitioned by the key alone: the latest row of an entity
// may lie in any partition, so a filter on the partition column cannot
// reach the table through the view (it filters the latest rows, after the
// window), while a filter on the key does (and is pruned when the table
// is clustered by the key). A table with require_partition_filter cannot
// be read through it. VERIFY.md says what to check on BigQuery.
func LatestQuery(project, dataset string, t *contract.Table) string {
	return fmt.Sprintf("SELECT * EXCEPT (_latest_rank) FROM (\n"+
		"  SELECT *, ROW_NUMBER() OVER (PARTITION BY `%s` ORDER BY %s DESC, %s DESC NULLS LAST, %s DESC) AS _latest_rank\n"+
		"  FROM `%s.%s.%s`\n  WHERE `%s` IS NOT NULL)\nWHERE _latest_rank = 1",
		t.EntityKey, contract.ColEventTime, contract.ColReceivedAt, contract.ColEventID, project, dataset, t.Name, t.EntityKey)
}

// PayloadOnly reports that rows are transcoded from Event.Payload and
// Event.Message is never read, so a processor need not decode payloads
// for this sink (sink.PayloadSink).
func (s *Sink) PayloadOnly() bool { return true }

var (
	_ sink.PayloadSink    = (*Sink)(nil)
	_ sink.HealthReporter = (*Sink)(nil)
)

// Close closes the streams and clients; appends already answered are
// durable, so there is nothing to flush. It returns within ctx, and does
// not wait for BigQuery: what was not answered was not acked either.
func (s *Sink) Close(ctx context.Context) error {
	// First end the sink's life: the library retries a lost connection for
	// ever with it, holding the locks that closing a stream takes.
	s.cancel()
	done := make(chan error, 1)
	go func() { done <- s.close() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("bigquery: close: %w", ctx.Err())
	}
}

func (s *Sink) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, ts := range s.tables {
		ts.mu.Lock()
		for _, ms := range ts.streams {
			if err := ms.Close(); !isCleanClose(err) {
				errs = append(errs, fmt.Errorf("bigquery: close the stream of %s: %w", ts.name, err))
			}
		}
		for _, cancel := range ts.cancels {
			cancel()
		}
		ts.streams, ts.cancels = map[int64]*managedwriter.ManagedStream{}, nil
		ts.mu.Unlock()
	}
	if err := s.mw.Close(); !isCleanClose(err) {
		errs = append(errs, fmt.Errorf("bigquery: close the write client: %w", err))
	}
	if err := s.bq.Close(); err != nil {
		errs = append(errs, fmt.Errorf("bigquery: close the client: %w", err))
	}
	return errors.Join(errs...)
}

func isHTTP(err error, code int) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == code
}
