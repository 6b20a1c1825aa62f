package wiring

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hemlabs/hem/fieldcrypt"
	bqsink "github.com/hemlabs/hem/sink/bigquery"
)

// FieldKeysConfig is where production keeps the keys of encrypted fields
// (terraform/fieldcrypt.tf): the wrapped keysets in GCS, the key-encryption
// key in Cloud KMS, and their copy in the BigQuery keys table that the
// <table>_decrypted views join.
type FieldKeysConfig struct {
	// KEK is the Cloud KMS key, gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K.
	KEK string
	// Store is gs://BUCKET/PREFIX, the keysets' folder (the source of truth).
	Store string
	// Table is the BigQuery keys table, project.dataset.table; empty: no
	// mirror (the _decrypted views then read NULL for new keysets).
	Table string
	// KMSEndpoint overrides Cloud KMS's gRPC endpoint (tests): a plaintext
	// host:port reached without credentials.
	KMSEndpoint string
	// BigQueryEndpoint overrides BigQuery's REST endpoint (http:// means
	// no credentials). GCS honours STORAGE_EMULATOR_HOST.
	BigQueryEndpoint string
	// Create makes the keyring create missing keysets (the collector).
	Create bool
	// OnMirrorError hears of a keyset the keys table did not take (hem keys
	// sync repairs it); nil ignores it.
	OnMirrorError func(fieldcrypt.Keyset, error)
}

// Set says whether the flags name production keys at all.
func (c FieldKeysConfig) Set() bool { return c.KEK != "" || c.Store != "" }

// Validate checks the configuration before anything is dialled.
func (c FieldKeysConfig) Validate() error {
	if c.KEK == "" || c.Store == "" {
		return errors.New("--field-kek and --field-keys go together")
	}
	if _, err := fieldcrypt.KMSKeyName(c.KEK); err != nil {
		return err
	}
	if _, _, err := parseGS(c.Store); err != nil {
		return err
	}
	return nil
}

// parseGS splits gs://BUCKET/PREFIX; the prefix ends in "/" or is empty.
func parseGS(s string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(s, "gs://")
	bucket, prefix, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" {
		return "", "", fmt.Errorf("--field-keys %q is not gs://BUCKET/PREFIX", s)
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return bucket, prefix, nil
}

// FieldKeys are an open keyring and the store under it (hem erase writes
// its audit record there). Close releases the clients.
type FieldKeys struct {
	Keyring *fieldcrypt.Keyring
	Store   fieldcrypt.Store
	// Where names the store for messages (gs://… or a folder).
	Where string
	// Mirrored says whether the keyring has the keys table as a mirror.
	Mirrored bool

	closers []func() error
}

// Close drains the keys table writes in flight (for at most 10 seconds)
// and closes the clients.
func (f *FieldKeys) Close() error {
	var errs []error
	for i := len(f.closers) - 1; i >= 0; i-- {
		errs = append(errs, f.closers[i]())
	}
	return errors.Join(errs...)
}

// OpenLocalFieldKeys is LocalFieldKeys with its store, for hem erase.
func OpenLocalFieldKeys(dir string) (*FieldKeys, error) {
	kr, err := LocalFieldKeys(dir, false)
	if err != nil {
		return nil, err
	}
	store, err := fieldcrypt.NewDirStore(filepath.Join(dir, "keys", "data"))
	if err != nil {
		return nil, err
	}
	return &FieldKeys{Keyring: kr, Store: store, Where: filepath.Join(dir, "keys")}, nil
}

// OpenFieldKeys opens production's keyring: a GCSStore under cfg.Store,
// the Cloud KMS KEK, and (with cfg.Table) the keys table as its mirror.
// The collector's mirror writes in the background, one job at a time, each
// taking the keysets queued meanwhile (a keys table write is a BigQuery DML
// job, seconds long: the first event of a new data subject does not wait
// for it); readers' mirrors (hem erase, hem keys sync) write in the call.
func OpenFieldKeys(ctx context.Context, cfg FieldKeysConfig) (_ *FieldKeys, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fk := &FieldKeys{Where: cfg.Store}
	defer func() {
		if err != nil {
			_ = fk.Close()
		}
	}()
	bucket, prefix, _ := parseGS(cfg.Store)
	gcs, err := storage.NewClient(ctx, storage.WithJSONReads())
	if err != nil {
		return nil, fmt.Errorf("field keys: storage client: %w", err)
	}
	fk.closers = append(fk.closers, gcs.Close)
	store, err := fieldcrypt.NewGCSStore(gcs.Bucket(bucket), prefix)
	if err != nil {
		return nil, err
	}
	fk.Store = store
	var kmsOpts []option.ClientOption
	if cfg.KMSEndpoint != "" {
		kmsOpts = append(kmsOpts, option.WithEndpoint(cfg.KMSEndpoint), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	kc, err := kms.NewKeyManagementClient(ctx, kmsOpts...)
	if err != nil {
		return nil, fmt.Errorf("field keys: cloud kms client: %w", err)
	}
	fk.closers = append(fk.closers, kc.Close)
	kek, err := fieldcrypt.KMSKEK(kc, cfg.KEK)
	if err != nil {
		return nil, err
	}
	var opts []fieldcrypt.Option
	if cfg.Create {
		opts = append(opts, fieldcrypt.WithCreate())
	}
	if cfg.Table != "" {
		project, _, _ := strings.Cut(cfg.Table, ".")
		var bqOpts []option.ClientOption
		if cfg.BigQueryEndpoint != "" {
			bqOpts = append(bqOpts, option.WithEndpoint(cfg.BigQueryEndpoint))
			if strings.HasPrefix(cfg.BigQueryEndpoint, "http://") {
				bqOpts = append(bqOpts, option.WithoutAuthentication())
			}
		}
		bq, err := bigquery.NewClient(ctx, project, bqOpts...)
		if err != nil {
			return nil, fmt.Errorf("field keys: bigquery client: %w", err)
		}
		fk.closers = append(fk.closers, bq.Close)
		kt, err := bqsink.NewKeysTable(bq, cfg.Table)
		if err != nil {
			return nil, err
		}
		var m fieldcrypt.Mirror = keysTableMirror{kt}
		if cfg.Create {
			q := newQueuedMirror(m, cfg.OnMirrorError)
			fk.closers = append(fk.closers, q.close)
			m = q
		}
		opts = append(opts, fieldcrypt.WithMirror(m, cfg.OnMirrorError))
		fk.Mirrored = true
	}
	fk.Keyring, err = fieldcrypt.NewKeyring(store, kek, opts...)
	if err != nil {
		return nil, err
	}
	return fk, nil
}

// keysTableMirror is the keys table as a fieldcrypt.Mirror.
type keysTableMirror struct{ t *bqsink.KeysTable }

func keysetRow(k fieldcrypt.Keyset) bqsink.KeysetRow {
	return bqsink.KeysetRow{Object: k.Object, EventType: k.Name.Type, Kind: k.Name.Kind.String(),
		SubjectField: k.Name.SubjectField, Subject: k.Name.Subject, Wrapped: k.Wrapped, CreatedAt: k.CreatedAt}
}

func (m keysTableMirror) Put(ctx context.Context, ks []fieldcrypt.Keyset) (int64, error) {
	rows := make([]bqsink.KeysetRow, len(ks))
	for i, k := range ks {
		rows[i] = keysetRow(k)
	}
	return m.t.Put(ctx, rows)
}

func (m keysTableMirror) Objects(ctx context.Context) ([]string, error) { return m.t.Objects(ctx) }

func (m keysTableMirror) Delete(ctx context.Context, objects []string) (int64, error) {
	return m.t.Delete(ctx, objects)
}

func (m keysTableMirror) DeleteSubject(ctx context.Context, field, value string) (int64, error) {
	return m.t.DeleteSubject(ctx, field, value)
}

// queuedMirror puts keysets from one goroutine: the collector's events
// never wait for the keys table, and one collector runs at most one keys
// table job at a time. Each job takes what is queued when it starts, up to
// one INSERT's worth (bqsink.KeysPutRows rows or KeysPutBytes), so a burst
// of new data subjects costs a job per thousand keysets, not one each. A
// full queue drops the keyset (onError; hem keys sync puts it later), as
// does a failed job (onError for each of its keysets).
type queuedMirror struct {
	next    fieldcrypt.Mirror
	onError func(fieldcrypt.Keyset, error)
	queue   chan fieldcrypt.Keyset
	done    chan struct{}

	mu     sync.RWMutex // closed and sends on queue
	closed bool
}

// mirrorQueue bounds the keysets waiting for the keys table.
const mirrorQueue = 10_000

func newQueuedMirror(next fieldcrypt.Mirror, onError func(fieldcrypt.Keyset, error)) *queuedMirror {
	q := &queuedMirror{next: next, onError: onError, queue: make(chan fieldcrypt.Keyset, mirrorQueue), done: make(chan struct{})}
	go q.run()
	return q
}

func (q *queuedMirror) run() {
	defer close(q.done)
	for k := range q.queue {
		batch := q.drain(k)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := q.next.Put(ctx, batch)
		cancel()
		if err != nil && q.onError != nil {
			for _, k := range batch {
				q.onError(k, err)
			}
		}
	}
}

// drain is first and what is queued behind it, up to one INSERT job.
func (q *queuedMirror) drain(first fieldcrypt.Keyset) []fieldcrypt.Keyset {
	batch := []fieldcrypt.Keyset{first}
	size := keysetRow(first).Size()
	for len(batch) < bqsink.KeysPutRows {
		select {
		case k, ok := <-q.queue:
			if !ok {
				return batch
			}
			batch = append(batch, k)
			if size += keysetRow(k).Size(); size >= bqsink.KeysPutBytes {
				return batch
			}
		default:
			return batch
		}
	}
	return batch
}

var errMirrorQueueFull = errors.New("field keys: the keys table queue is full")

// Put queues ks and returns 0 (none put yet); their errors come later, to
// onError.
func (q *queuedMirror) Put(_ context.Context, ks []fieldcrypt.Keyset) (int64, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return 0, errMirrorQueueFull
	}
	for _, k := range ks {
		select {
		case q.queue <- k:
		default:
			return 0, errMirrorQueueFull
		}
	}
	return 0, nil
}

func (q *queuedMirror) Objects(ctx context.Context) ([]string, error) { return q.next.Objects(ctx) }

func (q *queuedMirror) Delete(ctx context.Context, objects []string) (int64, error) {
	return q.next.Delete(ctx, objects)
}

func (q *queuedMirror) DeleteSubject(ctx context.Context, field, value string) (int64, error) {
	return q.next.DeleteSubject(ctx, field, value)
}

// close stops taking keysets and waits up to 10 seconds for those queued.
func (q *queuedMirror) close() error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.queue)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("field keys: %d keysets not written to the keys table (hem keys sync puts them)", len(q.queue))
	}
}
