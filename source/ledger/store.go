package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"google.golang.org/protobuf/encoding/protojson"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
)

// errConflict means a conditional upload found the object not as its
// precondition said: another writer wrote first.
var errConflict = errors.New("ledger: concurrent write")

// writeMeta names the object metadata that carries a write's nonce: a
// writer whose upload succeeded but whose response was lost (the client
// retries, and the retry meets its own write: 412) recognises its write.
const writeMeta = "hem-ledger-write"

var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true} // a newer hem may add fields

// encode is e's protojson, indented the same way every time (protojson
// varies its whitespace on purpose) for gsutil cat and diff.
func encode(e *sourcev1.LedgerEntry) ([]byte, error) {
	b, err := protojson.Marshal(e)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func (l *Ledger) uri(name string) string { return "gs://" + l.bucket.BucketName() + "/" + name }

// writeAttempts bounds the uploads of one write. The client does not retry
// a one-request upload (its body is a stream), so write does: the
// precondition makes a retry safe, and the nonce tells a write that landed
// though its answer was lost. The waits grow past a second because GCS
// answers 429 to more than about one write per second of one object.
const writeAttempts = 4

func writeBackoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << (2 * (attempt - 1)) // 100ms, 400ms, 1.6s
	return d/2 + mrand.N(d)
}

// write uploads e as name under cond and returns the generation written;
// errConflict when cond does not hold.
func (l *Ledger) write(ctx context.Context, name string, cond storage.Conditions, e *sourcev1.LedgerEntry) (int64, error) {
	b, err := encode(e)
	if err != nil {
		return 0, fmt.Errorf("ledger: encode %s: %w", l.uri(name), err)
	}
	var n [16]byte
	_, _ = rand.Read(n[:])
	nonce := hex.EncodeToString(n[:])

	for attempt := range writeAttempts {
		if attempt > 0 {
			if serr := sleep(ctx, writeBackoff(attempt)); serr != nil {
				break
			}
		}
		var gen int64
		gen, err = l.upload(ctx, name, cond, nonce, b)
		if err == nil {
			return gen, nil
		}
		code := httpCode(err)
		if ctx.Err() != nil || !(code == http.StatusPreconditionFailed || transient(code)) {
			break
		}
		// Did this write land all the same (its answer lost, or an earlier
		// attempt of it went through)?
		if a, aerr := l.bucket.Object(name).Attrs(ctx); aerr == nil && a.Metadata[writeMeta] == nonce {
			return a.Generation, nil
		}
		if code == http.StatusPreconditionFailed {
			return 0, fmt.Errorf("ledger: write %s: %w", l.uri(name), errConflict)
		}
	}
	return 0, fmt.Errorf("ledger: write %s: %w", l.uri(name), err)
}

func (l *Ledger) upload(ctx context.Context, name string, cond storage.Conditions, nonce string, b []byte) (int64, error) {
	w := l.bucket.Object(name).If(cond).NewWriter(ctx)
	w.ChunkSize = 0 // one request: no resumable session to lose
	w.ContentType = "application/json"
	w.Metadata = map[string]string{writeMeta: nonce}
	_, err := w.Write(b)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return w.Attrs().Generation, nil
}

// httpCode is err's HTTP status, 0 when it has none (the request or its
// answer was lost on the way).
func httpCode(err error) int {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code
	}
	return 0
}

func transient(code int) bool {
	return code == 0 || code == http.StatusTooManyRequests || code >= 500
}

// readAttempts bounds retries of a read. A read racing a write of the same
// object can pair the old object's checksum with the new content ("bad CRC
// on read") on the local GCS server; the retry sees a consistent object.
const readAttempts = 5

// read returns the entry in name and the generation it was read at; an
// error wrapping ErrNotFound when there is no such object.
func (l *Ledger) read(ctx context.Context, name string) (*sourcev1.LedgerEntry, int64, error) {
	var b []byte
	var gen int64
	var err error
	for attempt := range readAttempts {
		if attempt > 0 {
			if err := sleep(ctx, time.Duration(attempt)*5*time.Millisecond); err != nil {
				return nil, 0, err
			}
		}
		b, gen, err = l.readOnce(ctx, name)
		if err == nil || errors.Is(err, ErrNotFound) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, 0, err
	}
	e := &sourcev1.LedgerEntry{}
	if err := unmarshal.Unmarshal(b, e); err != nil {
		return nil, 0, fmt.Errorf("ledger: %s is not a ledger entry: %w", l.uri(name), err)
	}
	if want := l.ObjectName(e.GetSource(), e.GetUri(), e.GetGeneration()); want != name {
		return nil, 0, fmt.Errorf("ledger: %s holds the entry of (source %q, uri %q, generation %d), which belongs in %s",
			l.uri(name), e.GetSource(), e.GetUri(), e.GetGeneration(), l.uri(want))
	}
	if _, known := sourcev1.Status_name[int32(e.GetStatus())]; !known || e.GetStatus() == sourcev1.Status_STATUS_UNSPECIFIED {
		// protojson drops an unknown enum name with DiscardUnknown: without
		// this check a typo would read as a done entry and block the object.
		return nil, 0, fmt.Errorf("ledger: %s is not a ledger entry: status %s", l.uri(name), statusText(b))
	}
	return e, gen, nil
}

func (l *Ledger) readOnce(ctx context.Context, name string) ([]byte, int64, error) {
	r, err := l.bucket.Object(name).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, 0, fmt.Errorf("ledger: %s: %w", l.uri(name), ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("ledger: read %s: %w", l.uri(name), err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, fmt.Errorf("ledger: read %s: %w", l.uri(name), err)
	}
	return b, r.Attrs.Generation, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// statusText is the status field as written in b, for an error message.
func statusText(b []byte) string {
	var raw struct {
		Status json.RawMessage `json:"status"`
	}
	if json.Unmarshal(b, &raw) != nil || raw.Status == nil {
		return "missing"
	}
	return string(raw.Status)
}
