package devstack

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"

	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/source/spec"
)

// InboxDir is the folder whose <source>/ subfolders take files to load.
func InboxDir(dir string) string { return filepath.Join(dir, "inbox") }

// inboxDone is the subfolder of <source>/ a file moves to once it is
// uploaded and its notification published.
const inboxDone = ".done"

// InboxStableFor is how long a dropped file's size and modification time
// must stay the same before it is taken: a file still being copied in is
// left alone.
const InboxStableFor = 500 * time.Millisecond

// inboxTarget is where one source's dropped files go.
type inboxTarget struct {
	source  string
	bucket  string
	prefix  string // the fixed prefix of the source's pattern: catalogue/
	pattern string
}

// inbox watches <dir>/inbox/<source>/ and uploads each dropped file to its
// source's bucket, as a supplier's system would, then publishes the
// object's notification on hem-objects, as Cloud Storage does in
// production. The loading is not the inbox's: the stack's SourceRunner gets
// the notification like hem source run does.
//
// The notification is published here rather than by the local GCS server:
// fake-gcs-server (v1.56.1) can notify (bucket notification configs, or
// Options.EventOptions), but it builds its own Pub/Sub client from the
// process-wide PUBSUB_EMULATOR_HOST, read once per project and cached, and
// publishes from a goroutine that only logs a failure. Pointing it at this
// stack would mean setting a process environment variable (two stacks in
// one test process would cross), and a failed publish would lose the file
// silently. Here the file moves to .done only once Pub/Sub confirmed its
// notification, and a failure is retried at the next scan.
type inbox struct {
	dir       string
	targets   []inboxTarget
	gcs       *storage.Client
	pub       *pubsub.Publisher
	log       *slog.Logger
	stableFor time.Duration
	seen      map[string]fileSeen
}

type fileSeen struct {
	size   int64
	mod    time.Time
	since  time.Time
	warned bool
}

func newInbox(dir string, targets []inboxTarget, gcs *storage.Client, pub *pubsub.Publisher, log *slog.Logger, stableFor time.Duration) (*inbox, error) {
	for _, t := range targets {
		if err := os.MkdirAll(filepath.Join(dir, t.source, inboxDone), 0o755); err != nil {
			return nil, fmt.Errorf("dev: inbox: %w", err)
		}
	}
	return &inbox{dir: dir, targets: targets, gcs: gcs, pub: pub, log: log, stableFor: stableFor, seen: map[string]fileSeen{}}, nil
}

// run scans the inbox until ctx ends.
func (in *inbox) run(ctx context.Context) error {
	t := time.NewTicker(min(in.stableFor/2, 250*time.Millisecond))
	defer t.Stop()
	for {
		in.scan(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// scan takes every file that has been stable for stableFor.
func (in *inbox) scan(ctx context.Context) {
	now := time.Now()
	present := map[string]bool{}
	for _, t := range in.targets {
		folder := filepath.Join(in.dir, t.source)
		entries, err := os.ReadDir(folder)
		if err != nil {
			continue // removed by the user: nothing to take
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			path := filepath.Join(folder, e.Name())
			fi, err := e.Info()
			if err != nil {
				continue
			}
			present[path] = true
			s, ok := in.seen[path]
			if !ok || s.size != fi.Size() || !s.mod.Equal(fi.ModTime()) {
				in.seen[path] = fileSeen{size: fi.Size(), mod: fi.ModTime(), since: now}
				continue
			}
			if now.Sub(s.since) < in.stableFor {
				continue
			}
			if name := t.prefix + e.Name(); !spec.Match(t.pattern, name) {
				if !s.warned {
					in.log.Warn("inbox: the file's object name would not match its source's pattern; rename the file", "service", "inbox",
						"file", path, "object", "gs://"+t.bucket+"/"+name, "pattern", t.pattern)
					s.warned = true
					in.seen[path] = s
				}
				continue
			}
			if err := in.take(ctx, t, path); err != nil {
				if !s.warned && ctx.Err() == nil {
					in.log.Warn("inbox: could not hand the file over; retrying", "service", "inbox", "file", path, "error", err)
					s.warned = true
					in.seen[path] = s
				}
				continue
			}
			delete(in.seen, path)
		}
	}
	for p := range in.seen {
		if !present[p] {
			delete(in.seen, p)
		}
	}
}

// take uploads the file at path to t's bucket under t's prefix, publishes
// its notification and moves it to .done/.
func (in *inbox) take(ctx context.Context, t inboxTarget, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	name := t.prefix + filepath.Base(path)
	w := in.gcs.Bucket(t.bucket).Object(name).NewWriter(ctx)
	w.ContentType = "application/octet-stream"
	if _, err := io.Copy(w, f); err != nil {
		_ = w.Close()
		return fmt.Errorf("upload gs://%s/%s: %w", t.bucket, name, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("upload gs://%s/%s: %w", t.bucket, name, err)
	}
	attrs := w.Attrs()
	data, err := objectResource(attrs)
	if err != nil {
		return err
	}
	res := in.pub.Publish(ctx, &pubsub.Message{
		Data:       data,
		Attributes: wiring.NotificationAttributes(wiring.EventFinalize, attrs.Bucket, attrs.Name, attrs.Generation, attrs.Updated),
	})
	if _, err := res.Get(ctx); err != nil {
		// Uploaded but not announced: the next scan uploads it again (a
		// new generation) and announces that one.
		return fmt.Errorf("notify gs://%s/%s: %w", t.bucket, name, err)
	}
	f.Close()
	if err := os.Rename(path, filepath.Join(in.dir, t.source, inboxDone, filepath.Base(path))); err != nil {
		return fmt.Errorf("move to %s: %w", inboxDone, errors.Join(err, os.Remove(path)))
	}
	in.log.Info("inbox: file handed over", "service", "inbox", "source", t.source, "object", "gs://"+attrs.Bucket+"/"+attrs.Name,
		"generation", attrs.Generation, "bytes", attrs.Size)
	return nil
}

// objectResource is the JSON_API_V1 payload of a notification: the
// object's resource, int64s quoted as the JSON API does.
func objectResource(a *storage.ObjectAttrs) ([]byte, error) {
	r := map[string]string{
		"kind":        "storage#object",
		"id":          a.Bucket + "/" + a.Name + "/" + strconv.FormatInt(a.Generation, 10),
		"name":        a.Name,
		"bucket":      a.Bucket,
		"generation":  strconv.FormatInt(a.Generation, 10),
		"contentType": a.ContentType,
		"size":        strconv.FormatInt(a.Size, 10),
		"timeCreated": a.Created.UTC().Format(time.RFC3339Nano),
		"updated":     a.Updated.UTC().Format(time.RFC3339Nano),
	}
	if len(a.MD5) > 0 {
		r["md5Hash"] = base64.StdEncoding.EncodeToString(a.MD5)
	}
	if a.CRC32C != 0 {
		r["crc32c"] = base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, a.CRC32C))
	}
	return json.Marshal(r)
}
