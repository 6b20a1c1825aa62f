package console

import (
	"context"
	"net/http"
	"time"

	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"

	"github.com/hemlabs/hem/contract"
)

// Deps are what the console reads and the one thing it writes through
// (the collector, for replays). A nil optional dependency hides its page
// or says on it what is not configured.
type Deps struct {
	Registry  Registry
	Warehouse Warehouse
	Auth      Authenticator
	// Optional.
	Metrics     Metrics
	Collector   Resender
	Audit       Audit
	Ledger      Ledger
	Archive     Archive
	DeadLetters DeadLetters
	// FieldKeys decrypt encrypted fields for viewers who may
	// (Viewer.MayDecrypt); without it nobody sees them in clear.
	FieldKeys FieldKeys
}

// Registry is the schema registry (*registry.Client).
type Registry interface {
	Subjects(ctx context.Context) ([]*registryv1.SubjectInfo, error)
	Versions(ctx context.Context, subject string) ([]*registryv1.Schema, error)
	Version(ctx context.Context, subject string, version int) (*contract.Schema, error)
	Register(ctx context.Context, req *registryv1.RegisterRequest) (*registryv1.RegisterResponse, error)
}

// Warehouse runs read-only queries: the local DuckDB in hem dev, BigQuery
// in production.
type Warehouse interface {
	// Query runs q with positional args and returns at most limit rows.
	Query(ctx context.Context, q string, limit int, args ...any) (*Result, error)
	// Estimate returns the bytes q would scan; ok is false when the
	// warehouse cannot tell before running it (DuckDB).
	Estimate(ctx context.Context, q string) (bytes int64, ok bool, err error)
	// Dialect is "duckdb" or "bigquery".
	Dialect() string
	// Table is the warehouse's name of a contract's table, quoted for
	// its dialect (BigQuery: `project.dataset.table`).
	Table(name string) string
}

// Result is a query's answer.
type Result struct {
	Columns   []string
	Rows      [][]any
	Truncated bool // more rows than the limit
}

// Viewer is who is looking, as Authenticator found.
type Viewer struct {
	Name string // an e-mail behind IAP, "dev" with the dev key
	// MayReplay: may resend failed events and redrive dead letters.
	MayReplay bool
	// MaySeePII: may see the values of PII fields (still as stored:
	// hashed, redacted). Without it they are masked on every page.
	MaySeePII bool
	// MayDecrypt: may see encrypted fields in clear (decrypted with
	// Deps.FieldKeys). Without it they read "encrypted" on every page,
	// never as ciphertext.
	MayDecrypt bool
}

// Authenticator says who sent a request; an error means nobody the
// console knows (it then asks for the key, or answers 401).
type Authenticator interface {
	Authenticate(r *http.Request) (Viewer, error)
}

// Metrics reads the pipeline's counters now; the console samples it to
// keep the last hour.
type Metrics interface {
	Snapshot(ctx context.Context) (*Snapshot, error)
}

// Snapshot is the counters at one instant (cumulative, as the processes
// count them).
type Snapshot struct {
	At time.Time
	// Per subject.
	Accepted, Rejected map[string]float64
	// Latency: p99 of the collector's answer, in seconds, per subject.
	P99 map[string]float64
	// Per processor (subscription): messages not yet acked and the age
	// of the oldest, and the dead-letter depth.
	Backlog     map[string]float64
	OldestAge   map[string]time.Duration
	DeadLetters map[string]float64
}

// Resender sends events again through the collector, which validates them
// again; the events keep their ids.
type Resender interface {
	Resend(ctx context.Context, events []*eventv1.Event) ([]*collectorv1.EventResult, error)
}

// Audit is the console's audit trail of replays and redrives.
type Audit interface {
	Record(ctx context.Context, e AuditEntry) error
	List(ctx context.Context, limit int) ([]AuditEntry, error)
}

// AuditEntry is one action taken from the console.
type AuditEntry struct {
	At      time.Time      `json:"at"`
	Viewer  string         `json:"viewer"`
	Action  string         `json:"action"` // "replay", "redrive"
	What    string         `json:"what"`   // the group or subscription
	Sent    int            `json:"sent"`
	Results map[string]int `json:"results"` // by status: ACCEPTED, REJECTED
	// Events are the event ids sent (replay) or redriven.
	Events []string `json:"events,omitempty"`
}

// Ledger is the file sources' ledger (*ledger.Ledger).
type Ledger interface {
	List(ctx context.Context, source string) ([]*sourcev1.LedgerEntry, error)
}

// Archive lists the GCS Parquet archive.
type Archive interface {
	// Days lists, per type and day, the archived objects, rows and bytes.
	Days(ctx context.Context) ([]ArchiveDay, error)
}

// ArchiveDay is one type's archive of one day.
type ArchiveDay struct {
	Type    string
	Day     string // 2006-01-02
	Objects int
	Rows    int64
	Bytes   int64
}

// DeadLetters reads and acks a subscription's dead-letter messages.
type DeadLetters interface {
	// Pull returns up to max dead-lettered messages of subscription.
	Pull(ctx context.Context, subscription string, max int) ([]DeadLetter, error)
	// Ack removes a message once its resend was confirmed.
	Ack(ctx context.Context, subscription, ackID string) error
}

// DeadLetter is one dead-lettered message.
type DeadLetter struct {
	AckID string
	Event *eventv1.Event
}
