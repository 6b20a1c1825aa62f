package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/registry/compat"
)

// lifecycleDefaultOut is the file terraform/ reads (jsondecode) to give the
// archive bucket one lifecycle rule per distinct retention.
const lifecycleDefaultOut = "terraform/archive_lifecycle.json"

// maxLifecycleRules is what hem may use of GCS's 100 lifecycle rules per
// bucket; terraform's own rules (storage classes by age, failed/, an
// optional bucket-wide delete) take the rest.
const maxLifecycleRules = 90

// lifecycleFile is the generated file: rules grouped by action, so types
// with the same retention share one rule (matchesPrefix is a list).
type lifecycleFile struct {
	Comment string          `json:"//"`
	Rules   []lifecycleRule `json:"rules"`
}

type lifecycleRule struct {
	// Action is Delete or SetStorageClass.
	Action       string `json:"action"`
	StorageClass string `json:"storage_class,omitempty"`
	// AgeDays is the object age the rule acts at.
	AgeDays int `json:"age_days"`
	// MatchesStorageClass limits a move to warmer classes, so no rule ever
	// moves an object back up.
	MatchesStorageClass []string `json:"matches_storage_class,omitempty"`
	// MatchesPrefix are the types' archive prefixes, events/type=<subject>/.
	MatchesPrefix []string `json:"matches_prefix"`
}

// classOrder runs from warm to cold.
var classOrder = []string{"STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"}

// archiveLifecycle turns the contracts' archive retention into lifecycle
// rules, in a stable order.
func archiveLifecycle(schemas []*contract.Schema) ([]lifecycleRule, error) {
	type key struct {
		action, class string
		age           int
	}
	byKey := map[key][]string{}
	var problems []string
	for _, s := range schemas {
		r := contract.RetentionOf(s.Descriptor())
		for _, p := range r.Problems() {
			problems = append(problems, s.Subject+": "+p)
		}
		prefix := compat.ArchivePrefix(s.Subject)
		if r.ArchiveDays > 0 {
			k := key{"Delete", "", r.ArchiveDays}
			byKey[k] = append(byKey[k], prefix)
		}
		if r.ColdAfterDays > 0 {
			k := key{"SetStorageClass", r.ColdStorageClass, r.ColdAfterDays}
			byKey[k] = append(byKey[k], prefix)
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	keys := make([]key, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return strings.Compare(fmt.Sprintf("%s %s %06d", a.action, a.class, a.age), fmt.Sprintf("%s %s %06d", b.action, b.class, b.age))
	})
	rules := make([]lifecycleRule, 0, len(keys))
	for _, k := range keys {
		prefixes := byKey[k]
		slices.Sort(prefixes)
		rule := lifecycleRule{Action: k.action, StorageClass: k.class, AgeDays: k.age, MatchesPrefix: prefixes}
		if k.class != "" {
			rule.MatchesStorageClass = classOrder[:slices.Index(classOrder, k.class)]
		}
		rules = append(rules, rule)
	}
	if len(rules) > maxLifecycleRules {
		return nil, fmt.Errorf("the contracts need %d distinct archive lifecycle rules; GCS allows 100 per bucket and hem uses at most %d: give more types the same archive_retention_days and archive_cold_after_days", len(rules), maxLifecycleRules)
	}
	return rules, nil
}

type schemaLifecycleConfig struct {
	Out   string
	Check bool
}

func schemaLifecycleCommand() *Command {
	var cfg schemaLifecycleConfig
	return &Command{
		Name:    "schema lifecycle",
		Args:    "[DIR]",
		Summary: "write the archive's per-type lifecycle rules for terraform",
		Help: `
Compiles the .proto files under DIR (default proto/) and writes the archive
bucket's lifecycle rules that their retention options ask for, as JSON that
terraform/ reads (default ` + lifecycleDefaultOut + `):

  archive_retention_days: N          Delete objects under events/type=SUBJECT/ at age N
  archive_cold_after_days: N         move them to archive_cold_storage_class at age N

Types with the same setting share one rule. Commit the file with the
contracts; "terraform apply" puts the rules on the bucket. --check writes
nothing and exits 1 when the file is not what the contracts give (make check
runs it). Shortening a retention is refused at admission first (EV-D01).`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cfg.Out, "out", lifecycleDefaultOut, "`FILE` to write")
			fs.BoolVar(&cfg.Check, "check", false, "write nothing; exit 1 when FILE is stale")
		},
		Run: func(ctx context.Context, io IO, args []string) error {
			return runSchemaLifecycle(ctx, io, &cfg, args)
		},
	}
}

func runSchemaLifecycle(ctx context.Context, io IO, cfg *schemaLifecycleConfig, args []string) error {
	dir, src, err := schemaCompileArg(ctx, io, args)
	if err != nil {
		return err
	}
	schemas, err := schemaContracts(src)
	if err != nil {
		return fmt.Errorf("schema lifecycle: %w", err)
	}
	rules, err := archiveLifecycle(schemas)
	if err != nil {
		return fmt.Errorf("schema lifecycle: %w", err)
	}
	f := lifecycleFile{
		Comment: "Generated by hem schema lifecycle from the contracts' archive retention options; do not edit.",
		Rules:   rules,
	}
	want, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	want = append(want, '\n')
	if cfg.Check {
		have, err := os.ReadFile(cfg.Out)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("schema lifecycle: %w", err)
		}
		if !bytes.Equal(have, want) {
			fmt.Fprintf(io.Stderr, "schema lifecycle: %s is stale: run hem schema lifecycle %s and commit\n", cfg.Out, dir)
			return Exit(1)
		}
		return nil
	}
	if err := os.WriteFile(cfg.Out, want, 0o644); err != nil {
		return fmt.Errorf("schema lifecycle: %w", err)
	}
	fmt.Fprintf(io.Stderr, "schema lifecycle: %d rules for %d contracts written to %s\n", len(rules), len(schemas), cfg.Out)
	return nil
}
