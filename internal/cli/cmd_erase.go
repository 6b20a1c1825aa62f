package cli

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hemlabs/hem/fieldcrypt"
	"github.com/hemlabs/hem/internal/wiring"
)

type eraseConfig struct {
	Dir       string
	Subject   string
	FieldKeys fieldKeyringFlags
	PIISalt   string
	By        string
	// SoftDelete is the key bucket's soft delete window (terraform's
	// soft_delete_retention_days).
	SoftDelete time.Duration
	// Recheck is how long after the erasure the keys table is cleared
	// again, past the keyset writes collectors had in flight.
	Recheck time.Duration
}

// The keys table's windows as terraform/fieldcrypt.tf sets them: time
// travel (max_time_travel_hours) and BigQuery's fixed fail-safe.
const (
	keysTableTimeTravel = 48 * time.Hour
	bigQueryFailSafe    = 7 * 24 * time.Hour
	// collectorCacheTTL is fieldcrypt's default WithTTL.
	collectorCacheTTL = time.Minute
)

func (c *eraseConfig) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.Dir, "dir", "", "folder of the local stack (default .hem), used without --field-keys")
	fs.StringVar(&c.Subject, "subject-field", "", "the data subject to erase, as FIELD=VALUE (e.g. member_id=m-42)")
	c.FieldKeys.bind(fs, true)
	fs.StringVar(&c.PIISalt, "pii-salt", "", "the deployment's PII salt (the collector's): the audit record names the subject by HMAC-SHA256 with it, never in clear; default with the local keys: <dir>/pii-salt")
	fs.StringVar(&c.By, "by", "", "who asks for the erasure, for the audit record (default $USER, else the account running hem)")
	fs.DurationVar(&c.SoftDelete, "soft-delete", 7*24*time.Hour, "soft delete window of the key bucket (terraform's soft_delete_retention_days), for the effective dates")
	fs.DurationVar(&c.Recheck, "recheck-after", 2*time.Minute, "with --field-keys-table: clear the subject's keys table rows again after this long, past keyset writes collectors had in flight (0: not again)")
}

func eraseCommand() *Command {
	var cfg eraseConfig
	return &Command{
		Name:    "erase",
		Summary: "erase a data subject: delete their keys, so their encrypted fields are unreadable everywhere",
		Help: `Deletes every key of the data subject FIELD=VALUE (the contracts'
data_subject_field, of every event type) and leaves a tombstone: the
fields encrypted with KEY_SCOPE_DATA_SUBJECT become unreadable in every copy
(warehouse, archive, failed events, replays), and the collector refuses the
subject's new events (hem.encrypt.subject_erased). Other data subjects
still decrypt. Processes that cached the keys (a collector, a running hem
dev) drop them within a minute.

With --field-keys gs://BUCKET/PREFIX and --field-kek it works on
production's key store (every generation of each keyset is deleted), and
with --field-keys-table it deletes the subject's rows of the BigQuery keys
table too (again after --recheck-after, for keysets collectors were still
copying there). Without them it works on hem dev's local keys (<dir>/keys).

It writes an audit record (who, when, which stores, how many keysets, when
the erasure is effective in each store) as a new object under the key
store's audit/erasures/ and prints it. The record names the subject by
HMAC-SHA256 of FIELD=VALUE keyed with the deployment's PII salt, not in
clear: the record is printed and copied into tickets and logs, and whoever
holds the salt and a value can still check whether it was erased.

  hem erase --subject-field member_id=m-42
  hem erase --subject-field member_id=m-42 --field-keys gs://P-hem-registry/keys \
    --field-kek gcp-kms://projects/P/locations/us/keyRings/hem-fields/cryptoKeys/hem-field-kek \
    --field-keys-table P.hem_keys.field_keys --pii-salt "$SALT"`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, args []string) error {
			if len(args) != 0 {
				return errors.New("erase: no arguments; give --subject-field FIELD=VALUE")
			}
			if cfg.By == "" {
				cfg.By = io.Getenv("USER")
			}
			return runErase(ctx, io, cfg)
		},
	}
}

// erasureAudit is the audit record of one erasure.
type erasureAudit struct {
	Kind         string    `json:"kind"`
	At           time.Time `json:"at"`
	By           string    `json:"by"`
	SubjectField string    `json:"subject_field"`
	// SubjectHMAC is hex HMAC-SHA256(PII salt, "FIELD=VALUE").
	SubjectHMAC string       `json:"subject_hmac_sha256"`
	Stores      []auditStore `json:"stores"`
}

type auditStore struct {
	Store   string `json:"store"`
	Deleted int64  `json:"deleted"`
	// Keysets are the deleted keysets' event types and kinds.
	Keysets []string `json:"keysets,omitempty"`
	// Effective is when no copy is left in the store.
	Effective time.Time `json:"effective"`
	Why       string    `json:"why"`
}

func runErase(ctx context.Context, io IO, cfg eraseConfig) error {
	field, value, ok := strings.Cut(cfg.Subject, "=")
	if !ok || field == "" || value == "" {
		return errors.New("erase: give --subject-field FIELD=VALUE, e.g. member_id=m-42")
	}
	fkc := cfg.FieldKeys.config(false)
	prod := fkc.Set() || fkc.Table != ""
	salt := cfg.PIISalt
	var (
		fk  *wiring.FieldKeys
		err error
	)
	if prod {
		if fkc.Table == "" {
			return errors.New("erase: --field-keys-table is required with --field-keys: the <table>_decrypted views read the keys table, so a keyset left there still decrypts")
		}
		if len(salt) < 16 {
			return errors.New("erase: --pii-salt is required with --field-keys (the collector's, at least 16 bytes): the audit record names the subject by its HMAC")
		}
		fk, err = wiring.OpenFieldKeys(ctx, fkc)
	} else {
		if salt == "" {
			b, rerr := os.ReadFile(filepath.Join(devDir(cfg.Dir), "pii-salt"))
			if rerr != nil {
				return fmt.Errorf("erase: the local PII salt: %w (give --pii-salt)", rerr)
			}
			salt = strings.TrimSpace(string(b))
		}
		fk, err = wiring.OpenLocalFieldKeys(devDir(cfg.Dir))
	}
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	defer fk.Close()

	er, err := fk.Keyring.EraseSubject(ctx, field, value)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	if fk.Mirrored && cfg.Recheck > 0 {
		fmt.Fprintf(io.Stderr, "erase: keys deleted; clearing the keys table again in %s (keyset copies collectors had in flight)\n", cfg.Recheck)
		select {
		case <-ctx.Done():
			return fmt.Errorf("erase: interrupted before the second pass over the keys table (run hem erase again): %w", ctx.Err())
		case <-time.After(cfg.Recheck):
		}
		again, err := fk.Keyring.EraseSubject(ctx, field, value)
		if err != nil {
			return fmt.Errorf("erase: second pass: %w", err)
		}
		er.Deleted = append(er.Deleted, again.Deleted...)
		er.MirrorDeleted += again.MirrorDeleted
	}

	mac := hmac.New(sha256.New, []byte(salt))
	mac.Write([]byte(field + "=" + value))
	audit := erasureAudit{Kind: "hem.erasure.v1", At: er.At, By: cfg.By, SubjectField: field, SubjectHMAC: hex.EncodeToString(mac.Sum(nil))}
	if audit.By == "" {
		// $USER is often unset where erasures run (a container, a root
		// shell): the account's name is the next best answer to "who".
		audit.By = "unknown"
		if u, err := user.Current(); err == nil && u.Username != "" {
			audit.By = u.Username
		}
	}
	keysets := make([]string, 0, len(er.Deleted))
	for _, o := range er.Deleted {
		if n, ok := fieldcrypt.ParseObject(o); ok {
			keysets = append(keysets, n.Type+"/"+n.Kind.String())
		}
	}
	slices.Sort(keysets)
	if prod {
		audit.Stores = append(audit.Stores,
			auditStore{Store: fk.Where, Deleted: int64(len(er.Deleted)), Keysets: keysets, Effective: er.At.Add(cfg.SoftDelete),
				Why: "every generation deleted now; the bucket's soft delete keeps them recoverable for its window"})
		if fk.Mirrored {
			audit.Stores = append(audit.Stores, auditStore{Store: "bigquery:" + fkc.Table, Deleted: er.MirrorDeleted,
				Effective: er.At.Add(cfg.Recheck + keysTableTimeTravel + bigQueryFailSafe),
				Why:       "rows deleted now; time travel (48 hours, as terraform sets the keys dataset) then fail-safe (7 days)"})
		}
		audit.Stores = append(audit.Stores, auditStore{Store: "collector caches", Effective: er.At.Add(collectorCacheTTL),
			Why: "a collector uses a cached key for at most a minute"})
	} else {
		audit.Stores = append(audit.Stores,
			auditStore{Store: fk.Where, Deleted: int64(len(er.Deleted)), Keysets: keysets, Effective: er.At, Why: "files deleted now, no copies kept"},
			auditStore{Store: "running hem dev", Effective: er.At.Add(collectorCacheTTL), Why: "cached keys expire within a minute"})
	}
	rec, err := json.MarshalIndent(audit, "", "  ")
	if err != nil {
		return err
	}
	object := "audit/erasures/" + er.At.Format("20060102T150405.000000000Z") + "-" + audit.SubjectHMAC[:16] + ".json"
	if err := fk.Store.Create(ctx, object, append(rec, '\n')); err != nil {
		return fmt.Errorf("erase: the keys are erased but the audit record was not written (print below): %w\n%s", err, rec)
	}

	fmt.Fprintf(io.Stdout, "erased %s=… at %s: %d keysets deleted, tombstone left (new events of the subject are refused)\n",
		field, er.At.Format(time.RFC3339), len(er.Deleted))
	fmt.Fprintln(io.Stdout, "effective:")
	for _, s := range audit.Stores {
		fmt.Fprintf(io.Stdout, "  %-40s %s  (%s)\n", s.Store, s.Effective.Format(time.RFC3339), s.Why)
	}
	fmt.Fprintf(io.Stdout, "audit record %s%s:\n%s\n", auditWhere(fk.Where), object, rec)
	return nil
}

func auditWhere(where string) string {
	if strings.HasPrefix(where, "gs://") {
		return strings.TrimSuffix(where, "/") + "/"
	}
	return filepath.Join(where, "data") + string(filepath.Separator)
}
