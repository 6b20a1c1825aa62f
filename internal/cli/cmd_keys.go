package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/hemlabs/hem/internal/wiring"
)

type keysSyncConfig struct {
	FieldKeys fieldKeyringFlags
}

func (c *keysSyncConfig) bind(fs *flag.FlagSet) { c.FieldKeys.bind(fs, true) }

func keysSyncCommand() *Command {
	var cfg keysSyncConfig
	return &Command{
		Name:    "keys sync",
		Summary: "repair the BigQuery keys table from the key store (GCS)",
		Help: `The key store (--field-keys gs://BUCKET/PREFIX) is the source of truth; the
BigQuery keys table (--field-keys-table) is its copy, which the
<table>_decrypted views join. The collector copies each keyset it creates
there in the background; one it could not copy (the table unreachable, the
queue full) reads NULL in the views until this runs. keys sync adds every
keyset the table lacks and deletes the rows of every erased data subject
(a copy a collector was still writing when hem erase ran). Safe to repeat;
run it after an outage of BigQuery or on a schedule. It lists the store,
reads the table's objects in one query, and writes in a handful of DML
jobs (a thousand keysets an INSERT, the erased subjects' rows in one
DELETE), however large the store.

  hem keys sync --field-keys gs://P-hem-registry/keys --field-kek gcp-kms://… --field-keys-table P.hem_keys.field_keys`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, args []string) error {
			if len(args) != 0 {
				return errors.New("keys sync: no arguments")
			}
			fkc := cfg.FieldKeys.config(false)
			if fkc.Table == "" {
				return errors.New("keys sync: --field-keys-table is required (with --field-keys and --field-kek)")
			}
			fk, err := wiring.OpenFieldKeys(ctx, fkc)
			if err != nil {
				return fmt.Errorf("keys sync: %w", err)
			}
			defer fk.Close()
			rep, err := fk.Keyring.Sync(ctx)
			fmt.Fprintf(io.Stdout, "keys sync: %d keysets in %s, %d rows in %s; %d keysets put (those it held are unchanged), %d rows of %d erased data subjects deleted\n",
				rep.Keysets, fkc.Store, rep.Held, fkc.Table, rep.Put, rep.Deleted, rep.Erased)
			return err
		},
	}
}
