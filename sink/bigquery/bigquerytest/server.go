package bigquerytest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Server is an in-process fake of BigQuery: the v2 REST API for datasets and
// tables, and the Storage Write API's BigQueryWrite gRPC service for the
// default stream. The real clients (cloud.google.com/go/bigquery and
// storage/managedwriter) talk to it unchanged.
//
// A Server is safe for concurrent use. Its state lives in memory and is lost
// on Close.
type Server struct {
	cfg *config

	httpLn   net.Listener
	httpGate *gate
	httpSrv  *http.Server
	grpcLn   net.Listener
	grpcGate *gate
	grpcSrv  *grpc.Server

	mu          sync.RWMutex
	datasets    map[string]*dataset // by "project:dataset"
	serial      uint64              // source of etags and schema version ids
	appendFault AppendFault
	jobs        map[string]*job    // by "project:jobId"
	jobsAsked   atomic.Int64       // job requests taken, for JobsRequested
	uploads     map[string]*upload // resumable uploads in progress, by id
	engine      *engine            // DuckDB for queries, opened on first use
	duckNames   map[*table]string  // names of the tables' DuckDB copies

	closeOnce sync.Once
}

// NewServer starts the REST server and the Storage Write gRPC server on
// loopback ports chosen by the kernel. Call Close to stop them.
func NewServer(opts ...Option) (*Server, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, datasets: map[string]*dataset{}, jobs: map[string]*job{}, uploads: map[string]*upload{}}

	s.httpLn, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bigquerytest: listen rest: %w", err)
	}
	s.grpcLn, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = s.httpLn.Close()
		return nil, fmt.Errorf("bigquerytest: listen grpc: %w", err)
	}

	s.httpSrv = &http.Server{Handler: s.restHandler(), ReadHeaderTimeout: 10 * time.Second}
	// The gRPC transport limit sits far above the AppendRows limit so that an
	// oversized request reaches the handler and fails with BigQuery's own
	// INVALID_ARGUMENT rather than a transport RESOURCE_EXHAUSTED.
	s.grpcSrv = grpc.NewServer(grpc.MaxRecvMsgSize(math.MaxInt32))
	storagepb.RegisterBigQueryWriteServer(s.grpcSrv, &writeServer{s: s})

	s.httpGate, s.grpcGate = newGate(s.httpLn), newGate(s.grpcLn)
	go func() { _ = s.httpSrv.Serve(s.httpGate) }()
	go func() { _ = s.grpcSrv.Serve(s.grpcGate) }()
	return s, nil
}

// RESTEndpoint is the base URL of the REST API, for option.WithEndpoint.
func (s *Server) RESTEndpoint() string {
	return "http://" + s.httpLn.Addr().String() + "/bigquery/v2/"
}

// WriteEndpoint is the host:port of the Storage Write gRPC service.
func (s *Server) WriteEndpoint() string { return s.grpcLn.Addr().String() }

// ClientOptions are the options for bigquery.NewClient to use this server.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.RESTEndpoint()),
		option.WithoutAuthentication(),
	}
}

// WriteClientOptions are the options for managedwriter.NewClient to use this
// server: plaintext gRPC, no credentials.
func (s *Server) WriteClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.WriteEndpoint()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// Rows returns every row appended to a table, in append order. Each row has
// one key per column of the table's current schema (nested RECORDs
// likewise): columns the row's writer did not know, or left unset, are nil,
// except REPEATED columns, which are never NULL in BigQuery and read as an
// empty []any. The result is a copy; callers may modify it.
func (s *Server) Rows(project, datasetID, tableID string) ([]map[string]any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.tableLocked(project, datasetID, tableID)
	if err != nil {
		return nil, fmt.Errorf("bigquerytest: rows: %w", err)
	}
	fields := t.current().fields
	rows := s.liveRowsLocked(t)
	out := make([]map[string]any, len(rows))
	for i, r := range rows {
		out[i] = projectRow(r, fields)
	}
	return out, nil
}

// Close stops both servers, cutting open streams. It is safe to call more
// than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.grpcSrv.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			_ = s.httpSrv.Close()
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.engine != nil {
			s.engine.close()
			s.engine = nil
		}
	})
}

// dataset is one dataset and its tables.
type dataset struct {
	doc    object
	tables map[string]*table
}

// table is one table or view. Its schema history is kept because the
// Storage Write API sees a schema change only after the propagation delay.
type table struct {
	ref     tableRef
	doc     object
	schemas []schemaVersion // oldest first; the last is the current schema
	rows    []map[string]any
	// version counts changes of rows and schema, so that the DuckDB copy
	// of the table is made again only after one.
	version uint64
}

// schemaVersion is a table schema and the time tables.patch made it current.
type schemaVersion struct {
	id     uint64
	fields []*field
	since  time.Time
}

type tableRef struct{ project, dataset, table string }

func (r tableRef) String() string { return r.project + ":" + r.dataset + "." + r.table }

func (t *table) current() schemaVersion { return t.schemas[len(t.schemas)-1] }

func (t *table) isView() bool {
	v, _ := t.doc["view"].(object)
	return v != nil
}

// writeSchema is the schema the Storage Write API validates against at now:
// the newest version older than the propagation delay. The schema a table
// was created with is visible at once.
func (t *table) writeSchema(now time.Time, delay time.Duration) schemaVersion {
	for i := len(t.schemas) - 1; i > 0; i-- {
		if !now.Before(t.schemas[i].since.Add(delay)) {
			return t.schemas[i]
		}
	}
	return t.schemas[0]
}

var errTableNotFound = errors.New("table not found")

func (s *Server) tableLocked(project, datasetID, tableID string) (*table, error) {
	ds := s.datasets[project+":"+datasetID]
	if ds == nil {
		return nil, fmt.Errorf("dataset %s:%s: %w", project, datasetID, errTableNotFound)
	}
	t := s.liveTableLocked(ds, tableID)
	if t == nil {
		return nil, fmt.Errorf("table %s:%s.%s: %w", project, datasetID, tableID, errTableNotFound)
	}
	return t, nil
}

func (s *Server) nextSerialLocked() uint64 {
	s.serial++
	return s.serial
}

// projectRow shapes a stored row for the schema fields: one key per column,
// looked up case-insensitively because a row stores the column names of the
// schema it was written under.
func projectRow(row map[string]any, fields []*field) map[string]any {
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		v, ok := row[f.Name]
		if !ok {
			for k, kv := range row {
				if strings.EqualFold(k, f.Name) {
					v = kv
					break
				}
			}
		}
		out[f.Name] = projectValue(v, f)
	}
	return out
}

func projectValue(v any, f *field) any {
	if f.repeated() {
		list, _ := v.([]any)
		out := make([]any, len(list))
		for i, e := range list {
			out[i] = projectScalar(e, f)
		}
		return out
	}
	return projectScalar(v, f)
}

func projectScalar(v any, f *field) any {
	switch x := v.(type) {
	case nil:
		return nil
	case map[string]any:
		return projectRow(x, f.Fields)
	case []byte:
		return append([]byte{}, x...)
	}
	return v
}
