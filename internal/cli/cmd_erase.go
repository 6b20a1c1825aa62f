package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/hemlabs/hem/internal/wiring"
)

type eraseConfig struct {
	Dir     string
	Subject string
}

func (c *eraseConfig) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.Dir, "dir", "", "folder of the local stack (default .hem)")
	fs.StringVar(&c.Subject, "subject-field", "", "the data subject to erase, as FIELD=VALUE (e.g. member_id=m-42)")
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
still decrypt. Processes that cached the keys (a running hem dev) drop them
within a minute.

It works on hem dev's local key store (<dir>/keys).

  hem erase --subject-field member_id=m-42`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, args []string) error {
			if len(args) != 0 {
				return errors.New("erase: no arguments; give --subject-field FIELD=VALUE")
			}
			return runErase(ctx, io, cfg)
		},
	}
}

func runErase(ctx context.Context, io IO, cfg eraseConfig) error {
	field, value, ok := strings.Cut(cfg.Subject, "=")
	if !ok || field == "" || value == "" {
		return errors.New("erase: give --subject-field FIELD=VALUE, e.g. member_id=m-42")
	}
	kr, err := wiring.LocalFieldKeys(devDir(cfg.Dir), false)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	er, err := kr.EraseSubject(ctx, field, value)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	fmt.Fprintf(io.Stdout, "erased %s=%s at %s: %d keys deleted, tombstone left (new events of the subject are refused)\n",
		field, value, er.At.Format("2006-01-02T15:04:05Z"), len(er.Deleted))
	for _, o := range er.Deleted {
		fmt.Fprintf(io.Stdout, "  deleted %s\n", o)
	}
	fmt.Fprintln(io.Stdout, "effective:")
	fmt.Fprintln(io.Stdout, "  local key store (<dir>/keys):  now (no copies kept)")
	fmt.Fprintln(io.Stdout, "  running hem dev:               within 1 minute (cached keys expire)")
	fmt.Fprintln(io.Stdout, "  in production (not done by this command yet): BigQuery keys table after its time travel (48 hours as terraform sets it) and fail-safe (7 days);")
	fmt.Fprintln(io.Stdout, "  the registry bucket's mirror after its soft delete window (7 days by default)")
	return nil
}
